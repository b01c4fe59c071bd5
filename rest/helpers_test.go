package rest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxfake"
)

// fakeEngine is the shared fake engine (sandboxfake: the engine's rules
// and errors over the real kestrel handlers, served in-process, so file
// routes touch the test's temporary directories and exec runs host
// commands) with what these tests add: runtimes that fail on purpose, the
// last list options, a console file, and echoing plugin actions.
type fakeEngine struct {
	*sandboxfake.Engine
	console string // console log path of every sandbox

	mu    sync.Mutex
	lastL sandbox.ListOptions
	// action answers Action for a running sandbox; nil echoes the call.
	action func(plugin, action string, input json.RawMessage) (json.RawMessage, error)
}

var _ rest.Engine = (*fakeEngine)(nil)

func newFakeEngine(t testing.TB) *fakeEngine {
	t.Helper()
	e := &fakeEngine{Engine: sandboxfake.New(t), console: filepath.Join(t.TempDir(), "console.log")}
	if err := os.WriteFile(e.console, []byte("boot line 1\nboot line 2\nlogin:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.OnAction = func(_ context.Context, _, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
		e.mu.Lock()
		fn := e.action
		e.mu.Unlock()
		if fn != nil {
			return fn(plugin, action, input)
		}
		return json.Marshal(map[string]any{"plugin": plugin, "action": action, "input": input})
	}
	return e
}

// Create fails as runtime "exhausted" (out of budget) or "broken" (an
// unclassified error) asks.
func (e *fakeEngine) Create(ctx context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	switch spec.Runtime {
	case "exhausted":
		return nil, errdefs.Exhausted("not enough memory left: delete a sandbox or ask for less")
	case "broken":
		return nil, io.ErrUnexpectedEOF
	}
	return e.Engine.Create(ctx, spec)
}

// List keeps the options it was given.
func (e *fakeEngine) List(ctx context.Context, opts sandbox.ListOptions) (*sandbox.ListPage, error) {
	e.mu.Lock()
	e.lastL = opts
	e.mu.Unlock()
	return e.Engine.List(ctx, opts)
}

// ConsoleLog answers the console file.
func (e *fakeEngine) ConsoleLog(ctx context.Context, id string, tail int) ([]byte, string, error) {
	if _, err := e.Get(ctx, id); err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(e.console)
	return b, e.console, err
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
	tok, _, err := a.Create(context.Background(), "test", auth.CreateOptions{Scope: auth.ScopeAdmin})
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
