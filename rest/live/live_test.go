// Package live_test runs the REST API against a real sandbox.Manager that
// boots QEMU guests (sandbox/sandboxtest). It lives apart from rest's unit
// tests so that those build and run wherever the engine cannot.
package live_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

type api struct {
	t     testing.TB
	srv   *httptest.Server
	token string
}

func newAPI(t testing.TB) (*api, *sandboxtest.Env) {
	t.Helper()
	env := sandboxtest.New(t, nil) // skips when guests cannot boot here
	a := auth.New(authtest.NewStore(), nil)
	tok, _, err := a.Create(context.Background(), "live", auth.CreateOptions{Scope: auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rest.New(rest.Options{Manager: env.Manager, Auth: a, Events: env.Bus, Version: "live"}))
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, token: tok}, env
}

func (a *api) do(method, path string, body any, out any, wantStatus int) []byte {
	a.t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/octet-stream"
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, wantStatus, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("decoding %s: %v", data, err)
		}
	}
	return data
}

func TestLiveSandbox(t *testing.T) {
	a, _ := newAPI(t)
	ctx := context.Background()

	var sb sandbox.Sandbox
	a.do("POST", "/v1/sandboxes", map[string]any{"name": "live", "labels": map[string]string{"t": "live"}}, &sb, http.StatusCreated)
	if sb.ID == "" || sb.State != sandbox.StateRunning {
		t.Fatalf("created %+v", sb)
	}
	base := "/v1/sandboxes/" + sb.ID

	var page sandbox.ListPage
	a.do("GET", "/v1/sandboxes?label=t=live&state=running", nil, &page, 200)
	if len(page.Items) != 1 || page.Items[0].ID != sb.ID {
		t.Errorf("list = %+v", page)
	}

	var res sandbox.ExecResult
	a.do("POST", base+"/exec", map[string]any{"cmd": []string{"sh", "-c", "cat; uname -s"}, "stdin": "hi "}, &res, 200)
	if res.Stdout != "hi Linux\n" || res.ExitCode != 0 {
		t.Errorf("exec = %+v", res)
	}

	a.do("PUT", base+"/files?mkdir=1&path=/tmp/live/a.txt", "payload", nil, 200)
	if got := a.do("GET", base+"/files?path=/tmp/live/a.txt", nil, nil, 200); string(got) != "payload" {
		t.Errorf("read back %q", got)
	}
	a.do("GET", base+"/files/stat?path=/nope", nil, nil, 404)

	// The port proxy reaches a server inside the guest over the agent
	// channel (no guest networking involved).
	a.do("POST", base+"/exec", map[string]any{"cmd": []string{"sh", "-c",
		"mkdir -p /tmp/www && echo served-from-guest > /tmp/www/index.html && busybox httpd -p 127.0.0.1:8000 -h /tmp/www"}}, &res, 200)
	var body []byte
	for range 50 {
		req, _ := http.NewRequest("GET", a.srv.URL+base+"/ports/8000/index.html", nil)
		req.Header.Set("Authorization", "Bearer "+a.token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if string(body) != "served-from-guest\n" {
		t.Errorf("GET through the port proxy = %q", body)
	}

	// Exec over the WebSocket.
	u := "ws" + strings.TrimPrefix(a.srv.URL, "http") + base + "/exec/stream?access_token=" + a.token
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	req, _ := json.Marshal(map[string]any{"cmd": []string{"sh", "-c", "read x; echo got-$x"}})
	c.Write(ctx, websocket.MessageText, req)
	in, _ := json.Marshal(map[string]any{"type": "stdin", "data": []byte("42\n")})
	c.Write(ctx, websocket.MessageText, in)
	var out string
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("stream: %v (output so far %q)", err, out)
		}
		var f struct {
			Type     string
			Data     []byte
			ExitCode int `json:"exit_code"`
		}
		json.Unmarshal(data, &f)
		if f.Type == "stdout" {
			out += string(f.Data)
		}
		if f.Type == "exit" {
			if out != "got-42\n" || f.ExitCode != 0 {
				t.Errorf("stream output %q, exit %d", out, f.ExitCode)
			}
			break
		}
	}

	if logs := a.do("GET", base+"/logs", nil, nil, 200); len(logs) == 0 {
		t.Error("the console log is empty")
	}

	// The event log saw the sandbox being created.
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	ereq, _ := http.NewRequestWithContext(ectx, "GET", a.srv.URL+"/v1/events?since=0&sandbox="+sb.ID, nil)
	ereq.Header.Set("Authorization", "Bearer "+a.token)
	eresp, err := http.DefaultClient.Do(ereq)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(eresp.Body)
	for sc.Scan() {
		if sc.Text() == "event: sandbox.created" {
			break
		}
	}
	cancel()
	eresp.Body.Close()

	a.do("POST", base+"/pause", nil, &sb, 200)
	a.do("POST", base+"/exec", map[string]any{"cmd": []string{"true"}}, nil, http.StatusConflict)
	a.do("POST", base+"/resume", nil, &sb, 200)
	a.do("DELETE", base, nil, nil, http.StatusNoContent)
	a.do("GET", base, nil, nil, http.StatusNotFound)
}

// BenchmarkListSandboxesLive measures GET /v1/sandboxes over the handler
// and the real engine (SQLite store) with two running sandboxes.
func BenchmarkListSandboxesLive(b *testing.B) {
	a, _ := newAPI(b)
	for range 2 {
		a.do("POST", "/v1/sandboxes", map[string]any{}, nil, http.StatusCreated)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.do("GET", "/v1/sandboxes", nil, nil, 200)
	}
}
