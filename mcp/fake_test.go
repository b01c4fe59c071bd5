package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/files"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/sandbox"
)

// fakeEngine keeps sandboxes in a map and runs their commands and file
// calls through the real kestrel agent handlers on this host, over
// in-memory connections: the agent protocol is real, the VM is not.
type fakeEngine struct {
	agent *client.Client
	// action answers Action; nil means plugin actions are unavailable.
	action func(ctx context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error)

	mu        sync.Mutex
	next      int
	sandboxes map[string]*sandbox.Sandbox
	changes   chan Change
}

func newFakeEngine(t testing.TB) *fakeEngine {
	t.Helper()
	r := reaper.New(false)
	svc := proc.New(proc.Config{Reaper: r})
	mux := http.NewServeMux()
	files.Register(mux)
	svc.Register(mux)
	ln := newPipeListener()
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		svc.Close()
		r.Close()
	})
	return &fakeEngine{
		agent:     client.New(ln.dial),
		sandboxes: map[string]*sandbox.Sandbox{},
		changes:   make(chan Change, 64),
	}
}

// pipeListener hands out the server ends of net.Pipe connections.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) dial(ctx context.Context) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "agent" }

func (e *fakeEngine) feed(ctx context.Context, fn func(Change)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-e.changes:
			fn(c)
		}
	}
}

func (e *fakeEngine) lookup(id string) (*sandbox.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[id]
	if !ok {
		return nil, sandbox.LookupError(id)
	}
	c := *sb
	return &c, nil
}

func (e *fakeEngine) running(id string) (*sandbox.Sandbox, error) {
	sb, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	if sb.State == sandbox.StatePaused {
		return nil, errdefs.WithRemedy(errdefs.Conflict("sandbox %s is paused; resume it first", id), errdefs.OpSandboxResume, "id", id)
	}
	return sb, nil
}

func (e *fakeEngine) setState(id string, st sandbox.State) (*sandbox.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[id]
	if !ok {
		return nil, errdefs.WithRemedy(errdefs.NotFound("sandbox %s not found", id), errdefs.OpSandboxList)
	}
	sb.State = st
	c := *sb
	return &c, nil
}

func (e *fakeEngine) Create(_ context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	if err := spec.Validate(sandbox.Limits{MaxVCPUs: 4, MaxMemoryMiB: 4096}); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.next++
	now := time.Now().UTC()
	sb := &sandbox.Sandbox{ID: fmt.Sprintf("sbx-%d", e.next), Name: spec.Name, Runtime: "default", State: sandbox.StateRunning,
		Spec: spec, Labels: spec.Labels, CreatedAt: now, UpdatedAt: now, LastActiveAt: now}
	e.sandboxes[sb.ID] = sb
	c := *sb
	e.mu.Unlock()
	e.changes <- Change{SandboxID: sb.ID}
	return &c, nil
}

func (e *fakeEngine) Get(_ context.Context, id string) (*sandbox.Sandbox, error) { return e.lookup(id) }

func (e *fakeEngine) List(_ context.Context, opts sandbox.ListOptions) (*sandbox.ListPage, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	page := &sandbox.ListPage{}
	for _, sb := range e.sandboxes {
		c := *sb
		page.Items = append(page.Items, &c)
	}
	sort.Slice(page.Items, func(i, j int) bool { return page.Items[i].ID < page.Items[j].ID })
	return page, nil
}

func (e *fakeEngine) Start(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StateRunning)
}

func (e *fakeEngine) Stop(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StateStopped)
}

func (e *fakeEngine) Pause(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StatePaused)
}

func (e *fakeEngine) Resume(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StateRunning)
}

func (e *fakeEngine) Delete(_ context.Context, id string) error {
	e.mu.Lock()
	_, ok := e.sandboxes[id]
	delete(e.sandboxes, id)
	e.mu.Unlock()
	if !ok {
		return errdefs.WithRemedy(errdefs.NotFound("sandbox %s not found", id), errdefs.OpSandboxList)
	}
	e.changes <- Change{SandboxID: id, Deleted: true}
	return nil
}

func (e *fakeEngine) Exec(ctx context.Context, id string, req sandbox.ExecRequest, out sandbox.OutputFunc) (*sandbox.ExecResult, error) {
	if _, err := e.running(id); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	creq := client.ExecRequest{Argv: req.Cmd, Cwd: req.Cwd, Stdin: req.Stdin, TimeoutMS: req.Timeout.Milliseconds(), MaxOutputBytes: req.MaxOutputBytes}
	for k, v := range req.Env {
		creq.Env = append(creq.Env, k+"="+v)
	}
	var stdout, stderr []byte
	var onOut func(string, []byte)
	if out != nil {
		onOut = func(stream string, data []byte) {
			if stream == client.StreamStdout {
				stdout = append(stdout, data...)
			} else {
				stderr = append(stderr, data...)
			}
			out(stream, data)
		}
	}
	res, err := e.agent.Exec(ctx, creq, onOut)
	if err != nil {
		return nil, err
	}
	if out == nil {
		stdout, stderr = res.Stdout, res.Stderr
	}
	return &sandbox.ExecResult{Stdout: string(stdout), Stderr: string(stderr), ExitCode: res.ExitCode, Signal: res.Signal,
		TimedOut: res.TimedOut, StdoutTruncated: res.StdoutTruncated, StderrTruncated: res.StderrTruncated, DurationMS: res.DurationMS}, nil
}

func (e *fakeEngine) Agent(_ context.Context, id string) (*client.Client, error) {
	if _, err := e.running(id); err != nil {
		return nil, err
	}
	return e.agent, nil
}

func (e *fakeEngine) Guest(ctx context.Context, id string) (*sandbox.Guest, error) {
	sb, err := e.running(id)
	if err != nil {
		return nil, err
	}
	return sandbox.NewGuest(id, e.agent, sb.Spec.Env, nil), nil
}

func (e *fakeEngine) ConsoleLog(_ context.Context, id string, _ int) ([]byte, string, error) {
	if _, err := e.lookup(id); err != nil {
		return nil, "", err
	}
	return []byte("Linux version 6.1\nkestrel: ready\n"), "/dev/null", nil
}

func (e *fakeEngine) Snapshot(_ context.Context, id string) (*sandbox.Snapshot, error) {
	if _, err := e.lookup(id); err != nil {
		return nil, err
	}
	return &sandbox.Snapshot{ID: "snap-1", SandboxID: id, Runtime: "default", CreatedAt: time.Now().UTC()}, nil
}

func (e *fakeEngine) Fork(ctx context.Context, id string, n int) ([]*sandbox.Sandbox, error) {
	if err := (sandbox.ForkRequest{Count: n}).Validate(); err != nil {
		return nil, err
	}
	if _, err := e.lookup(id); err != nil {
		return nil, err
	}
	var out []*sandbox.Sandbox
	for range n {
		sb, err := e.Create(ctx, sandbox.Spec{})
		if err != nil {
			return nil, err
		}
		out = append(out, sb)
	}
	return out, nil
}

func (e *fakeEngine) ListSnapshots(context.Context) ([]*sandbox.Snapshot, error) { return nil, nil }

func (e *fakeEngine) DeleteSnapshot(_ context.Context, id string) error {
	return errdefs.WithRemedy(errdefs.Conflict("snapshot %s has 1 sandbox restored from it; delete it first", id), errdefs.OpSandboxDelete, "id", "sbx-9")
}

func (e *fakeEngine) Action(ctx context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
	if _, err := e.running(id); err != nil {
		return nil, err
	}
	if e.action == nil {
		return nil, errdefs.Unavailable("plugin actions are not wired yet")
	}
	return e.action(ctx, id, plugin, action, input)
}

// connect starts a Server on eng and returns a client session over
// in-memory transports.
func connect(t testing.TB, eng Engine, feed ChangeFeed, copts *sdk.ClientOptions) (*Server, *sdk.ClientSession) {
	t.Helper()
	return connectOpts(t, Options{Manager: eng, Events: feed, Version: "test"}, copts)
}

// connectOpts is connect with all the server's options.
func connectOpts(t testing.TB, opts Options, copts *sdk.ClientOptions) (*Server, *sdk.ClientSession) {
	t.Helper()
	s := New(opts)
	t.Cleanup(func() { s.Close() })
	st, ct := sdk.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := s.SDK().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, copts).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return s, cs
}
