package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/errdefs"
	agentclient "github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/files"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

// hostEngine is a rest.Engine whose one kind of sandbox is this host: its
// agent is kestrel's real exec and file handlers on a unix socket. With
// it, volar talks to the real REST handler (Huma's validation, problem
// documents, streaming routes) without booting a guest.
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
	return nil, errdefs.NotFound("sandbox %s not found: list sandboxes with GET /v1/sandboxes", id)
}

func (e *hostEngine) Create(_ context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := "sb" + string(rune('0'+len(e.sbs)+1))
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
		return nil, errdefs.Conflict("sandbox %s is %s; resume it first", id, sb.State)
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
func (e *hostEngine) Snapshot(context.Context, string) (*sandbox.Snapshot, error) {
	return nil, errdefs.Unavailable("no snapshots here")
}
func (e *hostEngine) Fork(context.Context, string, int) ([]*sandbox.Sandbox, error) {
	return nil, errdefs.Unavailable("no forks here")
}
func (e *hostEngine) ListSnapshots(context.Context) ([]*sandbox.Snapshot, error) { return nil, nil }
func (e *hostEngine) GetSnapshot(_ context.Context, id string) (*sandbox.Snapshot, error) {
	return nil, errdefs.NotFound("snapshot %s not found", id)
}
func (e *hostEngine) DeleteSnapshot(_ context.Context, id string) error {
	return errdefs.NotFound("snapshot %s not found", id)
}

// Action answers what it was called with, or fails as the action's name
// says: "off" as a disabled plugin, "bad" as input the schema rejects.
func (e *hostEngine) Action(ctx context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
	if _, err := e.Agent(ctx, id); err != nil {
		return nil, err
	}
	switch action {
	case "off":
		return nil, errdefs.Conflict("plugin %s is disabled: enable it with 'volar plugin enable %s'", plugin, plugin)
	case "bad":
		return nil, errdefs.Invalid("input.n: expected an integer")
	}
	return json.Marshal(map[string]any{"sandbox": id, "plugin": plugin, "action": action, "input": input})
}

// newRealAPI serves rest.New over a hostEngine and returns the server and
// an admin token; opts may change the API's options.
func newRealAPI(t *testing.T, opts ...func(*rest.Options)) (*httptest.Server, string) {
	t.Helper()
	r := reaper.New(false)
	svc := proc.New(proc.Config{Reaper: r})
	mux := http.NewServeMux()
	svc.Register(mux)
	files.Register(mux)
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
	os.WriteFile(console, []byte("boot 1\nboot 2\nlogin:\n"), 0o644)
	eng := &hostEngine{agent: agent, console: console, sbs: map[string]*sandbox.Sandbox{}}
	a := auth.New(authtest.NewStore(), nil)
	tok, _, err := a.Create(context.Background(), "admin", auth.CreateOptions{Scope: auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	o := rest.Options{Manager: eng, Auth: a}
	for _, f := range opts {
		f(&o)
	}
	srv := httptest.NewServer(rest.New(o))
	t.Cleanup(func() {
		srv.Close()
		agent.CloseIdle()
		asrv.Close()
		svc.Close()
		r.Close()
	})
	return srv, tok
}

func TestAgainstTheRealHandler(t *testing.T) {
	srv, tok := newRealAPI(t)
	type result struct {
		code      int
		out, errs string
	}
	r := func(stdin string, args ...string) result {
		var out, errb bytes.Buffer
		code := run(append([]string{"--addr", srv.URL, "--token", tok}, args...), strings.NewReader(stdin), &out, &errb)
		return result{code, out.String(), errb.String()}
	}
	v := func(stdin string, args ...string) (int, string, string) {
		res := r(stdin, args...)
		return res.code, res.out, res.errs
	}
	expect := func(wantCode int, wantOut string, res result) {
		t.Helper()
		if res.code != wantCode || (wantOut != "*" && res.out != wantOut) {
			t.Errorf("got exit %d, stdout %q, stderr %q; want exit %d, stdout %q", res.code, res.out, res.errs, wantCode, wantOut)
		}
	}

	expect(0, "sb1\n", r("", "sandbox", "create", "-q", "--label", "team=a", "--ttl", "90s"))
	expect(0, "sb1\n", r("", "sandbox", "ls", "-q", "--state", "running", "--label", "team=a"))
	expect(0, "", r("", "sandbox", "ls", "-q", "--label", "team=b"))
	code, _, errs := v("", "sandbox", "ls", "--state", "sleeping")
	if code != 1 || !strings.Contains(errs, "query.state[0]: expected value to be one of") {
		t.Errorf("bad state: exit %d, stderr %q; want 1 and Huma's validation message", code, errs)
	}

	expect(3, "out\n", r("", "exec", "sb1", "--", "sh", "-c", "echo out; echo err >&2; exit 3"))
	expect(0, "piped\n", r("piped\n", "exec", "--stdin", "sb1", "cat"))
	expect(0, "A=1\n", r("", "exec", "--env", "A=1", "sb1", "sh", "-c", "echo A=$A"))
	expect(4, "live\n", r("", "exec", "--stream", "sb1", "sh", "-c", "echo live; exit 4"))
	expect(0, "streamed stdin\n", r("streamed stdin\n", "exec", "--stream", "-i", "sb1", "cat"))
	code, _, errs = v("", "exec", "--timeout", "1s", "sb1", "sleep", "5")
	if code != 124 || !strings.Contains(errs, "timed out") {
		t.Errorf("timeout: exit %d, stderr %q; want 124", code, errs)
	}

	// Files: the "guest" is this host, so guest paths are temp paths.
	dir := t.TempDir()
	local := filepath.Join(dir, "local.txt")
	os.WriteFile(local, []byte("content\n"), 0o600)
	guest := filepath.Join(dir, "guest")
	expect(0, "*", r("", "cp", local, "sb1:"+guest+"/"))
	expect(0, "content\n", r("", "cat", "sb1:"+guest+"/local.txt"))
	expect(0, "local.txt\n", r("", "ls", "-q", "sb1:"+guest))
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "f"), []byte("deep"), 0o644)
	os.Symlink("sub/f", filepath.Join(tree, "link"))
	expect(0, "*", r("", "cp", tree, "sb1:"+guest+"/tree"))
	expect(0, "*", r("", "cp", "sb1:"+guest+"/tree", filepath.Join(dir, "back")))
	if b, err := os.ReadFile(filepath.Join(dir, "back", "link")); err != nil || string(b) != "deep" {
		t.Errorf("round trip through the tar routes: link reads %q, %v; want deep", b, err)
	}
	code, _, errs = v("", "rm-file", "sb1:"+guest+"/tree")
	if code != 1 || errs == "" {
		t.Errorf("rm-file of a non-empty dir without -r: exit %d, stderr %q; want 1 and the agent's reason", code, errs)
	}
	expect(0, "", r("", "rm-file", "-r", "sb1:"+guest+"/tree"))
	if _, err := os.Stat(filepath.Join(guest, "tree")); !os.IsNotExist(err) {
		t.Errorf("rm-file -r left the tree: %v", err)
	}

	expect(0, "login:\n", r("", "logs", "sb1", "--tail", "1"))

	expect(0, "sb1 paused\n", r("", "sandbox", "pause", "sb1"))
	code, _, errs = v("", "exec", "sb1", "true")
	if code != 1 || errs != "volar: sandbox sb1 is paused; resume it first\n" {
		t.Errorf("exec in a paused sandbox: exit %d, stderr %q", code, errs)
	}
	expect(0, "sb1 running\n", r("", "sandbox", "resume", "sb1"))

	code, secret, _ := v("", "token", "create", "-q", "ci")
	secret = strings.TrimSpace(secret)
	if code != 0 || !strings.HasPrefix(secret, "vol_") {
		t.Fatalf("token create: exit %d, %q", code, secret)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"--addr", srv.URL, "--token", secret, "system"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "kvm") {
		t.Errorf("system with the new token: exit %d, %q %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"--addr", srv.URL, "--token", "vol_bogus", "system"}, nil, &out, &errb); code != 1 || !strings.HasPrefix(errb.String(), "volar: ") {
		t.Errorf("bad token: exit %d, stderr %q", code, errb.String())
	}

	expect(0, "sb1\n", r("", "sandbox", "rm", "sb1"))
	code, _, errs = v("", "sandbox", "get", "sb1")
	if code != 1 || errs != "volar: sandbox sb1 not found: list sandboxes with GET /v1/sandboxes\n" {
		t.Errorf("get after rm: exit %d, stderr %q", code, errs)
	}
}
