package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeDevTools answers as Chromium's DevTools HTTP server does: it
// refuses a Host that is not an IP or localhost, builds its URLs from
// the Host header, and refuses WebSocket upgrades that carry an Origin.
func fakeDevTools(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/json/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"Browser":"Chrome/1","webSocketDebuggerUrl":"ws://%s/devtools/browser/b1"}`, r.Host)
	})
	mux.HandleFunc("/json/list", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `[{"id":"p1","type":"page","webSocketDebuggerUrl":"ws://%[1]s/devtools/page/p1","devtoolsFrontendUrl":"/devtools/inspector.html?ws=%[1]s/devtools/page/p1"}]`, r.Host)
	})
	mux.HandleFunc("/devtools/browser/b1", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			http.Error(w, "Rejected an incoming WebSocket connection from the "+r.Header.Get("Origin")+" origin", http.StatusForbidden)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err == nil {
			_ = c.Write(r.Context(), typ, msg)
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		if net.ParseIP(host) == nil && host != "localhost" {
			http.Error(w, "Host header is specified and is not an IP address or localhost.", http.StatusInternalServerError)
			return
		}
		// Chromium takes its /json paths with a trailing slash too.
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimSuffix(p, "/")
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestDevToolsFront(t *testing.T) {
	chromium := fakeDevTools(t)
	front := httptest.NewServer(DevToolsHandler(chromium))
	t.Cleanup(front.Close)
	frontHost := strings.TrimPrefix(front.URL, "http://")

	get := func(t *testing.T, path string, h map[string]string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return b
	}
	proxied := map[string]string{"Host": "api.example:7777", "X-Forwarded-Host": "api.example:7777",
		"X-Forwarded-Prefix": "/v1/sandboxes/sbx-1/ports/9222", "X-Forwarded-Proto": "https"}
	for _, c := range []struct {
		name, path string
		headers    map[string]string
		want       []string
	}{
		{"direct", "/json/version", nil, []string{`"ws://` + frontHost + `/devtools/browser/b1"`}},
		{"trailing slash, as Playwright asks", "/json/version/", nil, []string{`"ws://` + frontHost + `/devtools/browser/b1"`}},
		{"through the port proxy", "/json/version", proxied,
			[]string{`"wss://api.example:7777/v1/sandboxes/sbx-1/ports/9222/devtools/browser/b1"`}},
		{"list", "/json/list", proxied, []string{
			`"wss://api.example:7777/v1/sandboxes/sbx-1/ports/9222/devtools/page/p1"`,
			`ws=api.example:7777/v1/sandboxes/sbx-1/ports/9222/devtools/page/p1`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := string(get(t, c.path, c.headers))
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("GET %s: got %s, want it to hold %s", c.path, got, w)
				}
			}
			if strings.Contains(got, chromium) {
				t.Errorf("GET %s still names Chromium's own address %s: %s", c.path, chromium, got)
			}
		})
	}

	// The WebSocket passes through, with the client's Origin dropped.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+frontHost+"/devtools/browser/b1",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
	if err != nil {
		t.Fatalf("WebSocket through the front: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ws.Read(ctx); err != nil || string(msg) != `{"id":1}` {
		t.Fatalf("echo: %q %v", msg, err)
	}
}
