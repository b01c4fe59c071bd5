package rest_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

func (e *env) create(t *testing.T) string {
	t.Helper()
	var sb sandbox.Sandbox
	want(t, e.do("POST", "/v1/sandboxes", map[string]any{"env": map[string]string{"SB_VAR": "from-sandbox"}}), http.StatusCreated, &sb)
	return sb.ID
}

func TestExec(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	var res sandbox.ExecResult
	want(t, e.do("POST", "/v1/sandboxes/"+id+"/exec", map[string]any{
		"cmd": []string{"sh", "-c", "cat; echo err >&2; exit 3"}, "stdin": "hello", "env": map[string]string{"A": "1"},
	}), 200, &res)
	if res.Stdout != "hello" || res.Stderr != "err\n" || res.ExitCode != 3 {
		t.Errorf("exec = %+v", res)
	}
	wantProblem(t, e.do("POST", "/v1/sandboxes/"+id+"/exec", map[string]any{"cmd": []string{}}), 400, "cmd: give the command")
	wantProblem(t, e.do("POST", "/v1/sandboxes/"+id+"/exec", map[string]any{"cmd": []string{"true"}, "cwd": "tmp"}), 400, "absolute")
	wantProblem(t, e.do("POST", "/v1/sandboxes/"+id+"/exec", map[string]any{"cmd": []string{"true"}, "timeout_s": -1}), 400, "timeout_s")
	wantProblem(t, e.do("POST", "/v1/sandboxes/nope/exec", map[string]any{"cmd": []string{"true"}}), 404)
	want(t, e.do("POST", "/v1/sandboxes/"+id+"/pause", nil), 200, nil)
	wantProblem(t, e.do("POST", "/v1/sandboxes/"+id+"/exec", map[string]any{"cmd": []string{"true"}}), 409, "resume")
}

func (e *env) dialWS(t *testing.T, path string) *websocket.Conn {
	t.Helper()
	ctx := context.Background()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + path
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + e.token}}})
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dialing %s: %v %s", path, err, body)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

type frame struct {
	Type     string `json:"type"`
	Data     []byte `json:"data"`
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal"`
	TimedOut bool   `json:"timed_out"`
	Status   int    `json:"status"`
	Message  string `json:"message"`
}

func readFrame(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	typ, data, err := c.Read(context.Background())
	if err != nil {
		t.Fatalf("reading frame: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v, want text", typ)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestExecStream(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	ctx := context.Background()

	t.Run("stdin and output", func(t *testing.T) {
		c := e.dialWS(t, "/v1/sandboxes/"+id+"/exec/stream")
		req, _ := json.Marshal(map[string]any{"cmd": []string{"sh", "-c", `read line; echo "got $line $SB_VAR"; echo oops >&2; exit 7`}})
		if err := c.Write(ctx, websocket.MessageText, req); err != nil {
			t.Fatal(err)
		}
		in, _ := json.Marshal(map[string]any{"type": "stdin", "data": []byte("ping\n")})
		if err := c.Write(ctx, websocket.MessageText, in); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr string
		for {
			f := readFrame(t, c)
			switch f.Type {
			case "stdout":
				stdout += string(f.Data)
			case "stderr":
				stderr += string(f.Data)
			case "exit":
				if f.ExitCode != 7 || stdout != "got ping from-sandbox\n" || stderr != "oops\n" {
					t.Errorf("exit %d, stdout %q, stderr %q", f.ExitCode, stdout, stderr)
				}
				if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					t.Errorf("after exit: %v, want a normal close", err)
				}
				return
			default:
				t.Fatalf("unexpected frame %+v", f)
			}
		}
	})

	t.Run("signal", func(t *testing.T) {
		c := e.dialWS(t, "/v1/sandboxes/"+id+"/exec/stream")
		req, _ := json.Marshal(map[string]any{"cmd": []string{"sh", "-c", "echo ready; exec sleep 600"}})
		c.Write(ctx, websocket.MessageText, req)
		if f := readFrame(t, c); f.Type != "stdout" {
			t.Fatalf("first frame %+v", f)
		}
		sig, _ := json.Marshal(map[string]any{"type": "signal", "signal": "KILL"})
		c.Write(ctx, websocket.MessageText, sig)
		f := readFrame(t, c)
		if f.Type != "exit" || f.Signal != "KILL" {
			t.Errorf("after KILL: %+v", f)
		}
	})

	t.Run("bad request", func(t *testing.T) {
		c := e.dialWS(t, "/v1/sandboxes/"+id+"/exec/stream")
		c.Write(ctx, websocket.MessageText, []byte(`{"cmd": [], "bogus": 1}`))
		f := readFrame(t, c)
		if f.Type != "error" || f.Status != 400 || !strings.Contains(f.Message, "bogus") {
			t.Errorf("frame %+v, want a 400 error naming the unknown field", f)
		}
		if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("close: %v, want policy violation", err)
		}
	})

	t.Run("unknown sandbox", func(t *testing.T) {
		wantProblem(t, e.do("GET", "/v1/sandboxes/nope/exec/stream", nil), 404)
	})
}

func TestFiles(t *testing.T) {
	e := newEnv(t, func(o *rest.Options) { o.MaxUploadBytes = 1 << 20 })
	id := e.create(t)
	dir := t.TempDir()
	base := "/v1/sandboxes/" + id + "/files"
	p := filepath.Join(dir, "sub", "a.txt")

	var fi client.FileInfo
	want(t, e.do("PUT", base+"?mkdir=1&mode=0600&path="+p, "hello world"), 200, &fi)
	if fi.Size != 11 || fi.Mode != "0600" {
		t.Errorf("written %+v", fi)
	}
	resp := e.do("GET", base+"?path="+p, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello world" {
		t.Errorf("read = %d %q", resp.StatusCode, body)
	}
	resp = e.do("GET", base+"?offset=6&length=3&path="+p, nil)
	body, _ = io.ReadAll(resp.Body)
	if string(body) != "wor" {
		t.Errorf("ranged read = %q", body)
	}
	want(t, e.do("GET", base+"/stat?path="+p, nil), 200, &fi)
	if fi.Name != "a.txt" {
		t.Errorf("stat = %+v", fi)
	}
	want(t, e.do("POST", base+"/mkdir?mode=0700&path="+dir+"/d1/d2", nil), 200, &fi)
	if !fi.IsDir {
		t.Errorf("mkdir = %+v", fi)
	}
	var l client.FileList
	want(t, e.do("GET", base+"/list?recursive=true&path="+dir, nil), 200, &l)
	if len(l.Entries) != 4 {
		t.Errorf("list = %+v", l)
	}

	// Tar down and up again elsewhere.
	resp = e.do("GET", base+"/tar?path="+filepath.Join(dir, "sub"), nil)
	tarball, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-tar" {
		t.Errorf("tar Content-Type %q", ct)
	}
	tr := tar.NewReader(bytes.NewReader(tarball))
	names := []string{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "a.txt") {
		t.Errorf("tar names %v", names)
	}
	var tres client.TarResult
	want(t, e.do("PUT", base+"/tar?path="+dir+"/copy", bytes.NewReader(tarball)), 200, &tres)
	if got, _ := os.ReadFile(filepath.Join(dir, "copy", "a.txt")); string(got) != "hello world" {
		t.Errorf("untarred a.txt = %q", got)
	}

	want(t, e.do("DELETE", base+"?path="+p, nil), http.StatusNoContent, nil)
	wantProblem(t, e.do("GET", base+"/stat?path="+p, nil), 404)
	wantProblem(t, e.do("DELETE", base+"?path="+dir+"/d1", nil), 409)
	want(t, e.do("DELETE", base+"?recursive=true&path="+dir+"/d1", nil), http.StatusNoContent, nil)

	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"relative read", "GET", base + "?path=etc/passwd", nil, 400},
		{"missing path", "GET", base, nil, 400},
		{"NUL read", "GET", base + "?path=/etc%00x", nil, 400},
		{"bad offset", "GET", base + "?offset=-1&path=/etc/hostname", nil, 400},
		{"relative stat", "GET", base + "/stat?path=x", nil, 400},
		{"NUL stat", "GET", base + "/stat?path=/x%00", nil, 400},
		{"missing list path", "GET", base + "/list", nil, 400},
		{"bad mode", "POST", base + "/mkdir?mode=999&path=/tmp/x", nil, 400},
		{"relative write", "PUT", base + "?path=x", "data", 400},
		{"bad write mode", "PUT", base + "?mode=rw&path=" + dir + "/m", "data", 400},
		{"oversized upload", "PUT", base + "?path=" + dir + "/big", strings.Repeat("x", 2<<20), 413},
		{"oversized chunked upload", "PUT", base + "?path=" + dir + "/big", io.MultiReader(strings.NewReader(strings.Repeat("x", 2<<20))), 413},
		{"oversized tar", "PUT", base + "/tar?path=" + dir + "/big", strings.Repeat("x", 2<<20), 413},
		{"unknown sandbox", "GET", "/v1/sandboxes/nope/files?path=/etc/hostname", nil, 404},
		{"unknown sandbox list", "GET", "/v1/sandboxes/nope/files/list?path=/", nil, 404},
		{"missing file", "GET", base + "?path=" + dir + "/none", nil, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(tt.method, tt.path, tt.body), tt.status)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "big")); err == nil {
		t.Error("an oversized upload left a file behind")
	}
}

func TestLogsAndConsole(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	resp := e.do("GET", "/v1/sandboxes/"+id+"/logs?tail=2", nil)
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "boot line 2\nlogin:\n" {
		t.Errorf("logs tail=2 = %q", body)
	}
	wantProblem(t, e.do("GET", "/v1/sandboxes/"+id+"/logs?tail=x", nil), 400, "tail")
	wantProblem(t, e.do("GET", "/v1/sandboxes/nope/logs", nil), 404)

	// Follow: what is appended arrives on the open answer.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/sandboxes/"+id+"/logs?tail=1&follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	fresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer fresp.Body.Close()
	br := bufio.NewReader(fresp.Body)
	if line, _ := br.ReadString('\n'); line != "login:\n" {
		t.Errorf("first followed line %q", line)
	}
	appendConsole(t, e.eng.console, "root@sandbox\n")
	if line, _ := br.ReadString('\n'); line != "root@sandbox\n" {
		t.Errorf("followed line %q", line)
	}
	cancel()

	c := e.dialWS(t, "/v1/sandboxes/"+id+"/console?tail=1")
	typ, data, err := c.Read(context.Background())
	if err != nil || typ != websocket.MessageBinary || string(data) != "root@sandbox\n" {
		t.Errorf("console first message = %v %q %v", typ, data, err)
	}
	appendConsole(t, e.eng.console, "more\n")
	_, data, err = c.Read(context.Background())
	if err != nil || string(data) != "more\n" {
		t.Errorf("console next message = %q %v", data, err)
	}
}

func appendConsole(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestPortProxy(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)
	// A "guest" server on this host's loopback, reached through the
	// agent's port tunnel.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gotAuth := make(chan string, 10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			defer c.CloseNow()
			typ, data, err := c.Read(r.Context())
			if err == nil {
				c.Write(r.Context(), typ, append([]byte("echo:"), data...))
			}
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
		gotAuth <- r.Header.Get("Authorization")
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s body=%s", r.Method, r.URL.Path, r.URL.RawQuery, body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	base := fmt.Sprintf("/v1/sandboxes/%s/ports/%d", id, port)

	resp := e.do("POST", base+"/api/x%2Fy?q=1", "data")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "POST /api/x/y q=1 body=data" {
		t.Errorf("proxied answer %d %q", resp.StatusCode, body)
	}
	if a := <-gotAuth; a != "" {
		t.Errorf("the guest saw Authorization %q", a)
	}

	c := e.dialWS(t, base+"/ws")
	c.Write(context.Background(), websocket.MessageText, []byte("hi"))
	if _, data, err := c.Read(context.Background()); err != nil || string(data) != "echo:hi" {
		t.Errorf("proxied WebSocket = %q %v", data, err)
	}

	// Nothing listens on a closed port.
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l2.Addr().(*net.TCPAddr).Port
	l2.Close()
	wantProblem(t, e.do("GET", fmt.Sprintf("/v1/sandboxes/%s/ports/%d/", id, closed), nil), 502, "nothing listens")
	wantProblem(t, e.do("GET", "/v1/sandboxes/"+id+"/ports/70000/", nil), 400, "port")
	wantProblem(t, e.do("GET", "/v1/sandboxes/"+id+"/ports/http/", nil), 400, "port")
	wantProblem(t, e.do("GET", "/v1/sandboxes/nope/ports/80/", nil), 404)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", e.srv.URL+base, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	rresp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rresp.Body.Close()
	if rresp.StatusCode != http.StatusPermanentRedirect || rresp.Header.Get("Location") != base+"/" {
		t.Errorf("no-slash answer %d %q", rresp.StatusCode, rresp.Header.Get("Location"))
	}
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	now := time.Unix(1700000000, 0).UTC()
	e.events.list = []events.Event{
		{Seq: 1, Time: now, Type: events.SandboxCreated, SandboxID: "a"},
		{Seq: 2, Time: now, Type: events.ExecStarted, SandboxID: "a"},
		{Seq: 3, Time: now, Type: events.SandboxRunning, SandboxID: "b"},
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/events?since=0&type=sandbox.*", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Last-Event-ID", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	// The fake closes the stream after its list, so the body ends.
	body, _ := io.ReadAll(resp.Body)
	wantBody := "retry: 1000\n\nid: 3\nevent: sandbox.running\ndata: " +
		`{"seq":3,"time":"2023-11-14T22:13:20Z","type":"sandbox.running","sandbox_id":"b"}` + "\n\n"
	if string(body) != wantBody {
		t.Errorf("stream:\n%s\nwant:\n%s", body, wantBody)
	}
	if got := e.events.from[0]; got != 1 {
		t.Errorf("subscribed from %d, want Last-Event-ID 1", got)
	}

	wantProblem(t, e.do("GET", "/v1/events?since=x", nil), 400, "since")
	wantProblem(t, e.do("GET", "/v1/events?type=Bad%20Type", nil), 400, "type")
	wantProblem(t, e.do("GET", "/v1/events?sandbox=-x", nil), 400, "id")

	noEvents := newEnv(t, func(o *rest.Options) { o.Events = nil })
	wantProblem(t, noEvents.do("GET", "/v1/events", nil), 503, "events")
}
