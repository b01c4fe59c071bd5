package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/files"
	"github.com/volant-sh/volant/kestrel/ports"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/term"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

// fakeEngine is an in-memory rest.Engine. Its sandboxes' agent is the real
// kestrel handler set, served in-process on loopback: file routes
// touch the test's temporary directories and exec runs host commands.
type fakeEngine struct {
	t       *testing.T
	agent   *client.Client
	console string // console log path of every sandbox

	mu    sync.Mutex
	sbs   map[string]*sandbox.Sandbox
	snaps map[string]*sandbox.Snapshot
	n     int
	lastL sandbox.ListOptions
	// action answers Action for a running sandbox; nil echoes the call.
	action func(plugin, action string, input json.RawMessage) (json.RawMessage, error)
}

var _ rest.Engine = (*fakeEngine)(nil)

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	e := &fakeEngine{t: t, sbs: map[string]*sandbox.Sandbox{}, snaps: map[string]*sandbox.Snapshot{},
		console: filepath.Join(t.TempDir(), "console.log")}
	if err := os.WriteFile(e.console, []byte("boot line 1\nboot line 2\nlogin:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.agent = serveAgent(t)
	return e
}

// serveAgent serves kestrel's real routes (processes, files, ports and
// terminals) in-process.
func serveAgent(t *testing.T) *client.Client {
	t.Helper()
	r := reaper.New(false)
	svc := proc.New(proc.Config{Reaper: r})
	t.Cleanup(func() { svc.Close(); r.Close() })
	mux := http.NewServeMux()
	svc.Register(mux)
	files.Register(mux)
	ports.Register(mux)
	term.New(r, nil).Register(mux)
	return clienttest.Serve(t, mux).Client
}

func (e *fakeEngine) get(id string) (*sandbox.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sbs[id]
	if !ok {
		for _, s := range e.sbs {
			if s.Name == id && id != "" {
				return s, nil
			}
		}
		return nil, errdefs.NotFound("sandbox %s not found: list sandboxes with GET /v1/sandboxes", id)
	}
	return sb, nil
}

func (e *fakeEngine) Create(ctx context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	if err := spec.Validate(sandbox.Limits{MaxVCPUs: 8, MaxMemoryMiB: 8192}); err != nil {
		return nil, err
	}
	if spec.Runtime == "exhausted" {
		return nil, errdefs.Exhausted("not enough memory left: delete a sandbox or ask for less")
	}
	if spec.Runtime == "broken" {
		return nil, io.ErrUnexpectedEOF // an unclassified error
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.sbs {
		if spec.Name != "" && s.Name == spec.Name {
			return nil, errdefs.Conflict("name %s is taken", spec.Name)
		}
	}
	e.n++
	now := time.Unix(1700000000+int64(e.n), 0).UTC()
	rt := spec.Runtime
	if rt == "" {
		rt = sandbox.DefaultRuntime
	}
	sb := &sandbox.Sandbox{ID: fmt.Sprintf("sb%d", e.n), Name: spec.Name, Runtime: rt, State: sandbox.StateRunning,
		Spec: spec, Labels: spec.Labels, CreatedAt: now, UpdatedAt: now, LastActiveAt: now}
	e.sbs[sb.ID] = sb
	return sb, nil
}

func (e *fakeEngine) Get(ctx context.Context, id string) (*sandbox.Sandbox, error) { return e.get(id) }

func (e *fakeEngine) List(ctx context.Context, opts sandbox.ListOptions) (*sandbox.ListPage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastL = opts
	page := &sandbox.ListPage{}
	for _, s := range e.sbs {
		page.Items = append(page.Items, s)
	}
	sort.Slice(page.Items, func(i, j int) bool { return page.Items[i].ID < page.Items[j].ID })
	return page, nil
}

func (e *fakeEngine) setState(id string, from []sandbox.State, to sandbox.State) (*sandbox.Sandbox, error) {
	sb, err := e.get(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range from {
		if sb.State == f {
			sb.State = to
			return sb, nil
		}
	}
	return nil, errdefs.Conflict("sandbox %s is %s", sb.ID, sb.State)
}

func (e *fakeEngine) Start(ctx context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, []sandbox.State{sandbox.StateStopped}, sandbox.StateRunning)
}
func (e *fakeEngine) Stop(ctx context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, []sandbox.State{sandbox.StateRunning, sandbox.StatePaused}, sandbox.StateStopped)
}
func (e *fakeEngine) Pause(ctx context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, []sandbox.State{sandbox.StateRunning}, sandbox.StatePaused)
}
func (e *fakeEngine) Resume(ctx context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, []sandbox.State{sandbox.StatePaused}, sandbox.StateRunning)
}

func (e *fakeEngine) Delete(ctx context.Context, id string) error {
	sb, err := e.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sbs, sb.ID)
	return nil
}

func (e *fakeEngine) Exec(ctx context.Context, id string, req sandbox.ExecRequest, out sandbox.OutputFunc) (*sandbox.ExecResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	a, err := e.Agent(ctx, id)
	if err != nil {
		return nil, err
	}
	var env []string
	for k, v := range req.Env {
		env = append(env, k+"="+v)
	}
	r, err := a.Exec(ctx, client.ExecRequest{Argv: req.Cmd, Env: env, Cwd: req.Cwd, User: req.User, Stdin: req.Stdin,
		TimeoutMS: req.Timeout.Milliseconds(), MaxOutputBytes: req.MaxOutputBytes}, nil)
	if err != nil {
		return nil, err
	}
	return &sandbox.ExecResult{Stdout: string(r.Stdout), Stderr: string(r.Stderr), ExitCode: r.ExitCode, Signal: r.Signal,
		TimedOut: r.TimedOut, StdoutTruncated: r.StdoutTruncated, StderrTruncated: r.StderrTruncated, DurationMS: r.DurationMS}, nil
}

func (e *fakeEngine) Agent(ctx context.Context, id string) (*client.Client, error) {
	sb, err := e.get(id)
	if err != nil {
		return nil, err
	}
	if sb.State != sandbox.StateRunning {
		return nil, errdefs.Conflict("sandbox %s is %s; resume it first", sb.ID, sb.State)
	}
	return e.agent, nil
}

func (e *fakeEngine) Guest(ctx context.Context, id string) (*sandbox.Guest, error) {
	a, err := e.Agent(ctx, id)
	if err != nil {
		return nil, err
	}
	sb, err := e.get(id)
	if err != nil {
		return nil, err
	}
	return sandbox.NewGuest(sb.ID, a, sb.Spec.Env, nil), nil
}

func (e *fakeEngine) ConsoleLog(ctx context.Context, id string, tail int) ([]byte, string, error) {
	if _, err := e.get(id); err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(e.console)
	return b, e.console, err
}

func (e *fakeEngine) System(ctx context.Context) (*sandbox.SystemInfo, error) {
	return &sandbox.SystemInfo{Version: "test", Driver: "qemu", Drivers: []string{"qemu"}, Accel: "tcg"}, nil
}

func (e *fakeEngine) Snapshot(ctx context.Context, id string) (*sandbox.Snapshot, error) {
	sb, err := e.get(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	sn := &sandbox.Snapshot{ID: "snap-" + sb.ID, SandboxID: sb.ID, Runtime: sb.Runtime}
	e.snaps[sn.ID] = sn
	return sn, nil
}

func (e *fakeEngine) Fork(ctx context.Context, id string, n int) ([]*sandbox.Sandbox, error) {
	if err := (sandbox.ForkRequest{Count: n}).Validate(); err != nil {
		return nil, err
	}
	n = max(n, 1)
	sb, err := e.get(id)
	if err != nil {
		return nil, err
	}
	var out []*sandbox.Sandbox
	for range n {
		c, err := e.Create(ctx, sandbox.Spec{Runtime: sb.Runtime})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (e *fakeEngine) ListSnapshots(ctx context.Context) ([]*sandbox.Snapshot, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*sandbox.Snapshot
	for _, s := range e.snaps {
		out = append(out, s)
	}
	return out, nil
}

func (e *fakeEngine) GetSnapshot(ctx context.Context, id string) (*sandbox.Snapshot, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.snaps[id]
	if !ok {
		return nil, errdefs.NotFound("snapshot %s not found", id)
	}
	return s, nil
}

func (e *fakeEngine) DeleteSnapshot(ctx context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.snaps[id]; !ok {
		return errdefs.NotFound("snapshot %s not found", id)
	}
	delete(e.snaps, id)
	return nil
}

func (e *fakeEngine) Action(ctx context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
	if _, err := e.Agent(ctx, id); err != nil {
		return nil, err
	}
	e.mu.Lock()
	fn := e.action
	e.mu.Unlock()
	if fn != nil {
		return fn(plugin, action, input)
	}
	return json.Marshal(map[string]any{"plugin": plugin, "action": action, "input": input})
}

// fakeEvents is an EventSource replaying a fixed list, then waiting.
type fakeEvents struct {
	list []events.Event
	mu   sync.Mutex
	got  []events.Filter
	from []int64
}

func (f *fakeEvents) Subscribe(ctx context.Context, fromSeq int64, filter events.Filter) (<-chan events.Event, func()) {
	f.mu.Lock()
	f.got = append(f.got, filter)
	f.from = append(f.from, fromSeq)
	f.mu.Unlock()
	ch := make(chan events.Event)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for _, e := range f.list {
			if e.Seq <= fromSeq || !filter.Match(e) {
				continue
			}
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, func() { cancel(); <-done }
}

// rawJSON is a request body sent as is with the JSON media type.
type rawJSON string

// env is a running API over a fake engine.
type env struct {
	t      *testing.T
	eng    *fakeEngine
	auth   *auth.Auth
	store  *authtest.Store
	events *fakeEvents
	srv    *httptest.Server
	token  string
}

func newEnv(t *testing.T, opts ...func(*rest.Options)) *env {
	t.Helper()
	st := authtest.NewStore()
	a := auth.New(st, nil)
	tok, _, err := a.Create(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, eng: newFakeEngine(t), auth: a, store: st, token: tok, events: &fakeEvents{}}
	o := rest.Options{Manager: e.eng, Auth: a, Events: e.events, Version: "1.2.3"}
	for _, f := range opts {
		f(&o)
	}
	e.srv = httptest.NewServer(rest.New(o))
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request with the env's token; body may be nil, a string
// (sent raw) or a value (sent as JSON).
func (e *env) do(method, path string, body any) *http.Response {
	e.t.Helper()
	return e.doAs(e.token, method, path, body)
}

func (e *env) doAs(token, method, path string, body any) *http.Response {
	e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case rawJSON:
		rd = strings.NewReader(string(b))
		ctype = "application/json"
	case string:
		rd = strings.NewReader(b)
		ctype = "application/octet-stream"
	case io.Reader:
		rd = b
		ctype = "application/octet-stream"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = strings.NewReader(string(data))
		ctype = "application/json"
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// want checks the status of resp and decodes its JSON body into out.
func want(t *testing.T, resp *http.Response, status int, out any) {
	t.Helper()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("decoding %s: %v", data, err)
		}
	}
}

// problemDoc is what error answers hold.
type problemDoc struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

// wantProblem checks that resp is a problem document with status whose
// text (detail and error messages) contains every one of substrs.
func wantProblem(t *testing.T, resp *http.Response, status int, substrs ...string) problemDoc {
	t.Helper()
	var p problemDoc
	want(t, resp, status, &p)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	if p.Status != status || p.Title == "" {
		t.Errorf("problem = %+v, want status %d and a title", p, status)
	}
	text := p.Detail
	for _, e := range p.Errors {
		text += " | " + e.Location + ": " + e.Message
	}
	for _, s := range substrs {
		if !strings.Contains(text, s) {
			t.Errorf("problem text %q does not mention %q", text, s)
		}
	}
	return p
}
