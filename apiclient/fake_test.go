package apiclient_test

// This file is the tests' only tie to a fake engine: newTestAPI serves
// the real rest handler over hostEngine, a rest.Engine whose sandboxes
// all run on this host (their agent is kestrel's real exec, file, port and
// terminal handlers on a unix socket). When the adapters share one fake engine,
// point newTestAPI at it and delete hostEngine.

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	agentclient "github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/files"
	"github.com/volant-sh/volant/kestrel/ports"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/term"
	"github.com/volant-sh/volant/plugins/pluginstest"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

// testAPI is a served API and what the tests may inspect of it.
type testAPI struct {
	c   *apiclient.Client
	url string
	// events are what GET /v1/events serves; each subscription gets
	// the events after its sequence number and then ends.
	events []events.Event
}

// newTestAPI serves rest.New over a hostEngine, the plugin test registry
// and a fixed event list, and returns a client with an admin token.
func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	r := reaper.New(false)
	svc := proc.New(proc.Config{Reaper: r})
	mux := http.NewServeMux()
	svc.Register(mux)
	files.Register(mux)
	ports.Register(mux)
	term.New(r, nil).Register(mux)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix sockets unavailable: %v", err)
	}
	asrv := &http.Server{Handler: mux}
	go asrv.Serve(l)
	agent := agentclient.New(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	})
	console := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(console, []byte("boot 1\nboot 2\nlogin:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := auth.New(authtest.NewStore(), nil)
	tok, _, err := a.Create(context.Background(), "admin", auth.CreateOptions{Scope: auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tapi := &testAPI{}
	for i := 1; i <= 3; i++ {
		tapi.events = append(tapi.events, events.Event{Seq: int64(i), Type: events.SandboxCreated, SandboxID: "sb" + strconv.Itoa(i),
			Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	srv := httptest.NewServer(rest.New(rest.Options{
		Manager: &hostEngine{agent: agent, console: console, sbs: map[string]*sandbox.Sandbox{}},
		Auth:    a, Plugins: pluginstest.New(), Events: fixedEvents(tapi.events),
	}))
	t.Cleanup(func() {
		srv.Close()
		agent.CloseIdle()
		asrv.Close()
		svc.Close()
		r.Close()
	})
	c, err := apiclient.New(apiclient.Options{BaseURL: srv.URL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	tapi.c, tapi.url = c, srv.URL
	return tapi
}

// fixedEvents serves its events after the subscriber's sequence number,
// then ends the subscription as a server does with a slow client.
type fixedEvents []events.Event

func (f fixedEvents) Subscribe(ctx context.Context, from int64, filter events.Filter) (<-chan events.Event, func()) {
	ch := make(chan events.Event, len(f))
	for _, e := range f {
		if e.Seq > from {
			ch <- e
		}
	}
	close(ch)
	return ch, func() {}
}

// hostEngine is a rest.Engine whose sandboxes are this host.
type hostEngine struct {
	agent   *agentclient.Client
	console string

	mu  sync.Mutex
	sbs map[string]*sandbox.Sandbox
}

var _ rest.Engine = (*hostEngine)(nil)

func (e *hostEngine) get(id string) (*sandbox.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if sb, ok := e.sbs[id]; ok {
		return sb, nil
	}
	return nil, errdefs.WithRemedy(errdefs.NotFound("sandbox %q not found; list sandboxes to see the ids", id), errdefs.OpSandboxList)
}

func (e *hostEngine) Create(_ context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	// The engine's own rules, as the real engine applies them.
	if err := spec.Validate(sandbox.Limits{}); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id := "sb" + strconv.Itoa(len(e.sbs)+1)
	sb := &sandbox.Sandbox{ID: id, Name: spec.Name, Runtime: "default", State: sandbox.StateRunning, Spec: spec,
		Labels: spec.Labels, CreatedAt: time.Now()}
	e.sbs[id] = sb
	return sb, nil
}

func (e *hostEngine) Get(_ context.Context, id string) (*sandbox.Sandbox, error) { return e.get(id) }

func (e *hostEngine) List(_ context.Context, o sandbox.ListOptions) (*sandbox.ListPage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := &sandbox.ListPage{}
	for _, sb := range e.sbs {
		ok := len(o.States) == 0
		for _, s := range o.States {
			ok = ok || sb.State == s
		}
		for k, v := range o.Labels {
			ok = ok && sb.Labels[k] == v
		}
		if ok {
			p.Items = append(p.Items, sb)
		}
	}
	return p, nil
}

func (e *hostEngine) move(id string, to sandbox.State) (*sandbox.Sandbox, error) {
	sb, err := e.get(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	sb.State = to
	return sb, nil
}

func (e *hostEngine) Start(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.move(id, sandbox.StateRunning)
}
func (e *hostEngine) Stop(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.move(id, sandbox.StateStopped)
}
func (e *hostEngine) Pause(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.move(id, sandbox.StatePaused)
}
func (e *hostEngine) Resume(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.move(id, sandbox.StateRunning)
}

func (e *hostEngine) Hibernate(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.move(id, sandbox.StateHibernated)
}

func (e *hostEngine) Delete(_ context.Context, id string) error {
	if _, err := e.get(id); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sbs, id)
	return nil
}

func (e *hostEngine) Exec(ctx context.Context, id string, req sandbox.ExecRequest, _ sandbox.OutputFunc) (*sandbox.ExecResult, error) {
	a, err := e.Agent(ctx, id)
	if err != nil {
		return nil, err
	}
	var env []string
	for k, v := range req.Env {
		env = append(env, k+"="+v)
	}
	r, err := a.Exec(ctx, agentclient.ExecRequest{Argv: req.Cmd, Env: env, Cwd: req.Cwd, Stdin: req.Stdin,
		TimeoutMS: req.Timeout.Milliseconds(), MaxOutputBytes: req.MaxOutputBytes}, nil)
	if err != nil {
		return nil, err
	}
	return &sandbox.ExecResult{Stdout: string(r.Stdout), Stderr: string(r.Stderr), ExitCode: r.ExitCode, Signal: r.Signal,
		TimedOut: r.TimedOut, StdoutTruncated: r.StdoutTruncated, StderrTruncated: r.StderrTruncated}, nil
}

func (e *hostEngine) Agent(_ context.Context, id string) (*agentclient.Client, error) {
	sb, err := e.get(id)
	if err != nil {
		return nil, err
	}
	if sb.State != sandbox.StateRunning {
		return nil, errdefs.WithRemedy(errdefs.Conflict("sandbox %s is %s; resume it first", id, sb.State),
			errdefs.OpSandboxResume, "id", id)
	}
	return e.agent, nil
}

func (e *hostEngine) Guest(ctx context.Context, id string) (*sandbox.Guest, error) {
	a, err := e.Agent(ctx, id)
	if err != nil {
		return nil, err
	}
	return sandbox.NewGuest(id, a, nil, nil), nil
}

func (e *hostEngine) ConsoleLog(_ context.Context, id string, _ int) ([]byte, string, error) {
	if _, err := e.get(id); err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(e.console)
	return b, e.console, err
}

func (e *hostEngine) System(context.Context) (*sandbox.SystemInfo, error) {
	return &sandbox.SystemInfo{Version: "test", Driver: "qemu", Accel: "kvm"}, nil
}

func (e *hostEngine) Snapshot(_ context.Context, id string) (*sandbox.Snapshot, error) {
	if _, err := e.get(id); err != nil {
		return nil, err
	}
	return &sandbox.Snapshot{ID: "snap-1", SandboxID: id, Runtime: "default"}, nil
}

func (e *hostEngine) Fork(ctx context.Context, id string, n int) ([]*sandbox.Sandbox, error) {
	sb, err := e.get(id)
	if err != nil {
		return nil, err
	}
	var out []*sandbox.Sandbox
	for range n {
		c, _ := e.Create(ctx, sb.Spec)
		out = append(out, c)
	}
	return out, nil
}

func (e *hostEngine) ListSnapshots(context.Context) ([]*sandbox.Snapshot, error) {
	return []*sandbox.Snapshot{{ID: "snap-1", Runtime: "default"}}, nil
}

func (e *hostEngine) GetSnapshot(_ context.Context, id string) (*sandbox.Snapshot, error) {
	if id == "snap-1" {
		return &sandbox.Snapshot{ID: "snap-1", Runtime: "default"}, nil
	}
	return nil, errdefs.NotFound("snapshot %s not found", id)
}

func (e *hostEngine) DeleteSnapshot(_ context.Context, id string) error {
	if id == "snap-1" {
		return errdefs.Conflict("snapshot snap-1 has 1 sandbox; delete it first")
	}
	return errdefs.NotFound("snapshot %s not found", id)
}

func (e *hostEngine) Action(ctx context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
	if _, err := e.Agent(ctx, id); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"sandbox": id, "plugin": plugin, "action": action, "input": input})
}
