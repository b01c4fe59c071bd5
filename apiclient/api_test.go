package apiclient_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/errdefs"
	agentclient "github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/sandbox"
)

func TestSandboxLifecycleAndErrorClasses(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()

	sb, err := c.CreateSandbox(ctx, sandbox.Spec{Name: "web", Labels: map[string]string{"team": "a"}, TTLSeconds: 90})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if sb.ID != "sb1" || sb.Spec.TTLSeconds != 90 || sb.State != sandbox.StateRunning {
		t.Errorf("create answered %+v", sb)
	}
	page, err := c.ListSandboxes(ctx, sandbox.ListOptions{States: []sandbox.State{sandbox.StateRunning}, Labels: map[string]string{"team": "a"}})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "sb1" {
		t.Errorf("list: %v, %+v; want sb1", err, page)
	}
	if page, err := c.ListSandboxes(ctx, sandbox.ListOptions{Labels: map[string]string{"team": "b"}}); err != nil || len(page.Items) != 0 {
		t.Errorf("list team=b: %v, %+v; want none", err, page)
	}

	if sb, err := c.PauseSandbox(ctx, "sb1"); err != nil || sb.State != sandbox.StatePaused {
		t.Fatalf("pause: %v, %+v", err, sb)
	}
	_, err = c.Exec(ctx, "sb1", sandbox.ExecRequest{Cmd: []string{"true"}})
	if !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("exec in a paused sandbox: %v; want ErrConflict", err)
	}
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Message, "is paused") {
		t.Errorf("exec in a paused sandbox: %#v; want a 409 *Error with the engine's message", err)
	}
	if sb, err := c.ResumeSandbox(ctx, "sb1"); err != nil || sb.State != sandbox.StateRunning {
		t.Fatalf("resume: %v, %+v", err, sb)
	}
	res, err := c.Exec(ctx, "sb1", sandbox.ExecRequest{Cmd: []string{"sh", "-c", "cat; echo $A; echo err >&2; exit 3"},
		Env: map[string]string{"A": "1"}, Stdin: []byte("in\n")})
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	if res.Stdout != "in\n1\n" || res.Stderr != "err\n" || res.ExitCode != 3 {
		t.Errorf("exec = %+v", res)
	}

	if sn, err := c.SnapshotSandbox(ctx, "sb1"); err != nil || sn.ID != "snap-1" {
		t.Errorf("snapshot: %v, %+v", err, sn)
	}
	clones, err := c.ForkSandbox(ctx, "sb1", 2)
	if err != nil || len(clones) != 2 {
		t.Fatalf("fork: %v, %d clones; want 2", err, len(clones))
	}
	// The clones are restored from the fork's snapshot, which is in use.
	if err := c.DeleteSnapshot(ctx, clones[0].FromSnapshot); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("delete a used snapshot: %v; want ErrConflict", err)
	}
	if list, err := c.ListSnapshots(ctx); err != nil || len(list) != 2 {
		t.Errorf("snapshots: %v, %v; want snap-1 and the fork's", err, list)
	}

	if err := c.DeleteSandbox(ctx, "sb1"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = c.GetSandbox(ctx, "sb1")
	if !errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("get after delete: %v; want ErrNotFound only", err)
	}

	// Huma's validation of a bad query: invalid argument.
	_, err = c.ListSandboxes(ctx, sandbox.ListOptions{States: []sandbox.State{"sleeping"}})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "query.state[0]") {
		t.Errorf("bad state: %v; want ErrInvalidArgument naming query.state[0]", err)
	}
	// The engine's validation.
	_, err = c.CreateSandbox(ctx, sandbox.Spec{Name: "Not A Label"})
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad name: %v; want ErrInvalidArgument", err)
	}

	bad, err := apiclient.New(apiclient.Options{BaseURL: api.url, Token: "vol_bogus"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.System(ctx); !errors.Is(err, errdefs.ErrUnauthenticated) {
		t.Errorf("bad token: %v; want ErrUnauthenticated", err)
	}
	if h, err := bad.Health(ctx); err != nil || h.Status != "ok" {
		t.Errorf("health needs no token: %v, %+v", err, h)
	}
	if info, err := c.System(ctx); err != nil || info.Accel != "kvm" {
		t.Errorf("system: %v, %+v", err, info)
	}
}

func TestRawAnswerIsAsSent(t *testing.T) {
	api := newTestAPI(t)
	var raw []byte
	sb, err := api.c.CreateSandbox(apiclient.WithRawAnswer(context.Background(), &raw), sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m["id"] != sb.ID {
		t.Errorf("raw answer %q (%v); want the sandbox %s", raw, err, sb.ID)
	}
}

// TestRemediesRoundTrip plays a server that writes the problem members of
// the contract: message (the engine's words) and remedies.
func TestRemediesRoundTrip(t *testing.T) {
	tests := []struct {
		name, body  string
		status      int
		class       error
		wantMessage string
		want        []errdefs.Remedy
	}{
		{"contract", `{"title":"Conflict","status":409,` +
			`"detail":"sandbox sbx-1 is paused; resume it first (POST /v1/sandboxes/sbx-1/resume)",` +
			`"message":"sandbox sbx-1 is paused; resume it first",` +
			`"remedies":[{"op":"sandbox.resume","args":{"id":"sbx-1"}},{"op":"sandbox.delete","args":{"id":"sbx-1"}}]}`,
			409, errdefs.ErrConflict, "sandbox sbx-1 is paused; resume it first",
			[]errdefs.Remedy{{Op: errdefs.OpSandboxResume, Args: map[string]string{"id": "sbx-1"}},
				{Op: errdefs.OpSandboxDelete, Args: map[string]string{"id": "sbx-1"}}}},
		{"no members (an older server)", `{"title":"Not Found","status":404,"detail":"sandbox \"x\" not found"}`,
			404, errdefs.ErrNotFound, `sandbox "x" not found`, nil},
		{"not a problem", `<html>bad gateway</html>`, 502, nil, "the server answered 502 Bad Gateway", nil},
		{"busy", `{"title":"Too Many Requests","status":429,"detail":"the host is full","message":"the host is full","remedies":[{"op":"sandbox.list"}]}`,
			429, errdefs.ErrResourceExhausted, "the host is full", []errdefs.Remedy{{Op: errdefs.OpSandboxList}}},
		{"unavailable", `{"title":"Service Unavailable","status":503,"detail":"no plugins here"}`,
			503, errdefs.ErrUnavailable, "no plugins here", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := problemServer(t, tt.status, tt.body)
			_, err := c.GetSandbox(context.Background(), "sbx-1")
			if tt.class != nil && !errors.Is(err, tt.class) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.class)
			}
			for _, other := range []error{errdefs.ErrNotFound, errdefs.ErrConflict, errdefs.ErrInvalidArgument} {
				if other != tt.class && errors.Is(err, other) {
					t.Errorf("errors.Is(%v, %v) = true", err, other)
				}
			}
			if err == nil || err.Error() != tt.wantMessage {
				t.Errorf("message %q, want %q", err, tt.wantMessage)
			}
			if d := cmp.Diff(tt.want, errdefs.Remedies(err)); d != "" {
				t.Errorf("remedies (-want +got):\n%s", d)
			}
			var ae *apiclient.Error
			if !errors.As(err, &ae) || ae.Status != tt.status {
				t.Errorf("errors.As *Error: %#v", err)
			}
		})
	}
}

func problemServer(t *testing.T, status int, body string) *apiclient.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := apiclient.New(apiclient.Options{BaseURL: "http://" + l.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFiles(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()
	if _, err := c.CreateSandbox(ctx, sandbox.Spec{}); err != nil {
		t.Fatal(err)
	}
	// The "guest" is this host: guest paths are temporary paths.
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f.txt")
	fi, err := c.WriteFile(ctx, "sb1", p, strings.NewReader("hello\n"), 6, agentclient.WriteOptions{Mode: 0o600, MkdirAll: true})
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	if fi.Size != 6 || fi.Mode != "0600" {
		t.Errorf("write answered %+v", fi)
	}
	rc, err := c.ReadFile(ctx, "sb1", p, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "ell" {
		t.Errorf("read range = %q, want ell", b)
	}
	if fi, err := c.Stat(ctx, "sb1", p); err != nil || fi.Name != "f.txt" {
		t.Errorf("stat: %v, %+v", err, fi)
	}
	if _, err := c.Stat(ctx, "sb1", filepath.Join(dir, "none")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("stat of a missing file: %v; want ErrNotFound", err)
	}
	if _, err := c.Mkdir(ctx, "sb1", filepath.Join(dir, "d"), 0o700); err != nil {
		t.Errorf("mkdir: %v", err)
	}
	l, err := c.ListFiles(ctx, "sb1", dir, agentclient.ListOptions{Recursive: true})
	if err != nil || len(l.Entries) != 3 {
		t.Errorf("list: %v, %+v; want d, sub, sub/f.txt", err, l)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "a/b.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	res, err := c.UploadTar(ctx, "sb1", filepath.Join(dir, "tree"), &buf)
	if err != nil || res.Files != 1 {
		t.Fatalf("upload tar: %v, %+v", err, res)
	}
	rc, err = c.DownloadTar(ctx, "sb1", filepath.Join(dir, "tree"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
	rc.Close()
	if d := cmp.Diff([]string{"a", "a/b.txt"}, names); d != "" {
		t.Errorf("tar round trip (-want +got):\n%s", d)
	}
	if err := c.RemoveFile(ctx, "sb1", filepath.Join(dir, "tree"), false); err == nil {
		t.Errorf("removing a non-empty directory without recursive succeeded")
	}
	if err := c.RemoveFile(ctx, "sb1", filepath.Join(dir, "tree"), true); err != nil {
		t.Errorf("remove -r: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tree")); !os.IsNotExist(err) {
		t.Errorf("the tree is still there: %v", err)
	}
	if _, err := c.ReadFile(ctx, "nope", p, 0, 0); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("read in a missing sandbox: %v; want ErrNotFound", err)
	}
}

func TestExecStream(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()
	if _, err := c.CreateSandbox(ctx, sandbox.Spec{}); err != nil {
		t.Fatal(err)
	}
	s, err := c.ExecStream(ctx, "sb1", apiclient.StreamRequest{ExecRequest: sandbox.ExecRequest{Cmd: []string{"sh", "-c", "cat; echo err >&2; exit 4"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Stdin(ctx, []byte("piped\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseStdin(ctx); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr string
	for {
		f, err := s.Recv(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		switch f.Type {
		case "stdout":
			stdout += string(f.Data)
		case "stderr":
			stderr += string(f.Data)
		case "exit":
			if f.ExitCode != 4 {
				t.Errorf("exit code %d, want 4", f.ExitCode)
			}
		}
	}
	if stdout != "piped\n" || stderr != "err\n" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}

	_, err = c.ExecStream(ctx, "nope", apiclient.StreamRequest{ExecRequest: sandbox.ExecRequest{Cmd: []string{"true"}}})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("stream in a missing sandbox: %v; want ErrNotFound", err)
	}
	// A refusal after the handshake arrives as an error frame.
	if _, err := c.PauseSandbox(ctx, "sb1"); err != nil {
		t.Fatal(err)
	}
	s, err = c.ExecStream(ctx, "sb1", apiclient.StreamRequest{ExecRequest: sandbox.ExecRequest{Cmd: []string{"true"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Recv(ctx); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("stream in a paused sandbox: %v; want ErrConflict", err)
	}
}

func TestConsoleAndLogs(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()
	if _, err := c.CreateSandbox(ctx, sandbox.Spec{}); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Logs(ctx, "sb1", 1, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "login:\n" {
		t.Errorf("logs --tail 1 = %q", b)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := c.Console(cctx, "sb1", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	chunk, err := cs.Next(cctx)
	if err != nil || string(chunk) != "boot 2\nlogin:\n" {
		t.Errorf("console history = %q, %v", chunk, err)
	}
	if _, err := c.Logs(ctx, "nope", 0, false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("logs of a missing sandbox: %v", err)
	}
}

func TestPortProxy(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()
	if _, err := c.CreateSandbox(ctx, sandbox.Spec{}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s auth=%q", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"))
	})}
	go srv.Serve(l)
	defer srv.Close()
	port := l.Addr().(*net.TCPAddr).Port
	resp, err := c.PortDo(ctx, "sb1", port, http.MethodPost, "/hello?x=1", strings.NewReader("body"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `POST /hello?x=1 auth=""`; resp.StatusCode != 200 || string(b) != want {
		t.Errorf("proxied answer %d %q, want 200 %q", resp.StatusCode, b, want)
	}
	resp, err = c.PortDo(ctx, "nope", port, http.MethodGet, "/", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := apiclient.ResponseError(resp); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("proxy to a missing sandbox: %v; want ErrNotFound", err)
	}
}

func TestEventsResume(t *testing.T) {
	api := newTestAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The fake ends every subscription after its events; the stream
	// resumes after the last event seen.
	var s *apiclient.EventStream
	onReconnect := func() {}
	s, err := api.c.Events(ctx, apiclient.EventsOptions{Replay: true, Since: 1, Types: []string{"sandbox.*"},
		OnReconnect: func(error) { onReconnect() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, want := range []int64{2, 3} {
		ev, err := s.Next(ctx)
		if err != nil || ev.Seq != want {
			t.Fatalf("event %d: %+v, %v", want, ev, err)
		}
	}
	if !strings.Contains(string(s.Raw()), `"seq":3`) {
		t.Errorf("raw = %s", s.Raw())
	}
	reconnects := 0
	onReconnect = func() {
		reconnects++
		if s.Seq() != 3 {
			t.Errorf("resuming after %d, want 3", s.Seq())
		}
		if reconnects == 2 {
			cancel()
		}
	}
	if ev, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("next after the end: %+v, %v; want no duplicate and the context's end", ev, err)
	}

	ctx = context.Background()
	if _, err := api.c.Events(ctx, apiclient.EventsOptions{Types: []string{"Bad Type"}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad type: %v; want ErrInvalidArgument", err)
	}
}

func TestPluginsAndTokens(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()
	p, err := c.InstallPlugin(ctx, json.RawMessage(`{"schema_version":1,"name":"httpd","version":"1.0.0","actions":[{"name":"hello","path":"/hello"}]}`))
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	if p.Name != "httpd" || !p.Enabled {
		t.Errorf("install answered %+v", p)
	}
	if _, err := c.InstallPlugin(ctx, json.RawMessage(`{"schema_version":1,"name":"httpd","version":"1.0.0"}`)); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("install twice: %v; want ErrConflict", err)
	}
	if p, err := c.DisablePlugin(ctx, "httpd"); err != nil || p.Enabled {
		t.Errorf("disable: %v, %+v", err, p)
	}
	if p, err := c.EnablePlugin(ctx, "httpd"); err != nil || !p.Enabled {
		t.Errorf("enable: %v, %+v", err, p)
	}
	if list, err := c.ListPlugins(ctx); err != nil || len(list) != 1 {
		t.Errorf("list: %v, %v", err, list)
	}
	if _, err := c.GetPlugin(ctx, "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("get nope: %v; want ErrNotFound", err)
	}
	if _, err := c.CreateSandbox(ctx, sandbox.Spec{}); err != nil {
		t.Fatal(err)
	}
	out, err := c.Action(ctx, "sb1", "httpd", "hello", json.RawMessage(`{"n":1}`))
	if err != nil || !strings.Contains(string(out), `"action":"hello"`) {
		t.Errorf("action: %v, %s", err, out)
	}
	if err := c.RemovePlugin(ctx, "httpd"); err != nil {
		t.Errorf("remove: %v", err)
	}

	tok, err := c.CreateToken(ctx, "ci", apiclient.TokenOptions{Scope: auth.ScopeRead})
	if err != nil || !strings.HasPrefix(tok.Secret, "vol_") || tok.ID == "" || tok.Scope != auth.ScopeRead {
		t.Fatalf("create token: %v, %+v", err, tok)
	}
	if list, err := c.ListTokens(ctx); err != nil || len(list) != 2 {
		t.Errorf("tokens: %v, %v", err, list)
	}
	if err := c.RevokeToken(ctx, tok.ID); err != nil {
		t.Errorf("revoke: %v", err)
	}
	if err := c.RevokeToken(ctx, "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("revoke nope: %v", err)
	}
	if doc, err := c.OpenAPI(ctx); err != nil || !bytes.Contains(doc, []byte(`"openapi"`)) {
		t.Errorf("openapi: %v", err)
	}
	if m, err := c.Metrics(ctx); err != nil || len(m) == 0 {
		t.Errorf("metrics: %v", err)
	}
}

func TestExecStreamPTY(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()
	if _, err := c.CreateSandbox(ctx, sandbox.Spec{}); err != nil {
		t.Fatal(err)
	}
	s, err := c.ExecStream(ctx, "sb1", apiclient.StreamRequest{PTY: true, Rows: 30, Cols: 100,
		ExecRequest: sandbox.ExecRequest{Cmd: []string{"sh", "-c", "stty size; read line; echo got-$line; exit 2"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out strings.Builder
	sent := false
	for {
		f, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("recv: %v; output so far %q", err, out.String())
		}
		if f.Type == "exit" {
			if f.ExitCode != 2 {
				t.Errorf("exit code %d, want 2", f.ExitCode)
			}
			break
		}
		if f.Type != "output" {
			t.Fatalf("frame %+v on a terminal", f)
		}
		out.Write(f.Data)
		if !sent && strings.Contains(out.String(), "30 100") {
			if err := s.Keys(ctx, []byte("abc\r")); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
	}
	if !strings.Contains(out.String(), "got-abc") {
		t.Errorf("terminal output %q lacks the window size and the echoed line", out.String())
	}
	if _, err := s.Recv(ctx); err != io.EOF {
		t.Errorf("recv after exit: %v, want io.EOF", err)
	}
}
