package auth_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/volant-sh/volant/auth"
)

// TestHostGuardLoopback does what the MCP conformance suite's
// dns-rebinding-protection scenario does: an initialize POST with Host and
// Origin set to evil.example.com must get a 4xx, and one with the
// server's own localhost address a 2xx.
func TestHostGuardLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: auth.HostGuard([]string{"volant.internal"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	self := ln.Addr().String()
	post := func(host, origin string) (int, string) {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
		req, _ := http.NewRequest("POST", "http://"+self+"/mcp", strings.NewReader(body))
		req.Host = host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		host, origin string
		want         int
	}{
		{"evil.example.com", "http://evil.example.com", 403},
		{"evil.example.com", "", 403},
		{self, "http://evil.example.com", 403},
		{self, "null", 403},
		{self, "http://" + self, 200},
		{"localhost:" + strconv.Itoa(port), "http://localhost:" + strconv.Itoa(port), 200},
		{"[::1]:" + strconv.Itoa(port), "", 200},
		{"volant.internal", "https://volant.internal", 200},
		{self, "", 200},
	} {
		code, body := post(tt.host, tt.origin)
		if code != tt.want {
			t.Errorf("Host %q Origin %q: %d, want %d (%s)", tt.host, tt.origin, code, tt.want, body)
		}
		if code == 403 {
			var p struct{ Detail string }
			if json.Unmarshal([]byte(body), &p); !strings.Contains(p.Detail, "allowed_hosts") {
				t.Errorf("403 detail %q does not say what to change", p.Detail)
			}
		}
	}
}
