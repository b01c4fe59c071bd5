package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coder/websocket"
)

// TestExecStream plays the server side of the exec WebSocket: it checks
// the request and stdin, sends output and an exit frame.
func TestExecStream(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sandboxes/{id}/exec/stream", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "sb1" {
			problem(w, http.StatusNotFound, "sandbox \"nope\" not found")
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		_, first, err := c.Read(ctx)
		if err != nil {
			t.Errorf("reading the request: %v", err)
			return
		}
		var req map[string]any
		json.Unmarshal(first, &req)
		if cmd, _ := json.Marshal(req["cmd"]); string(cmd) != `["cat"]` {
			t.Errorf("cmd = %s, want [\"cat\"]", cmd)
		}
		var stdin []byte
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				t.Errorf("reading stdin: %v", err)
				return
			}
			var f struct {
				Type string `json:"type"`
				Data []byte `json:"data"`
			}
			json.Unmarshal(msg, &f)
			if f.Type == "stdin_close" {
				break
			}
			stdin = append(stdin, f.Data...)
		}
		send := func(v any) {
			b, _ := json.Marshal(v)
			c.Write(ctx, websocket.MessageText, b)
		}
		send(map[string]any{"type": "stdout", "data": stdin})
		send(map[string]any{"type": "stderr", "data": []byte("warn\n")})
		send(map[string]any{"type": "exit", "exit_code": 5, "timed_out": false, "duration_ms": 3})
		c.Close(websocket.StatusNormalClosure, "")
	})
	srv := httptest.NewServer(requireToken(mux))
	defer srv.Close()

	code, stdout, stderr := volar(t, srv, "piped input\n", "exec", "--stream", "-i", "sb1", "cat")
	if code != 5 {
		t.Errorf("exit code = %d, want 5", code)
	}
	if stdout != "piped input\n" || stderr != "warn\n" {
		t.Errorf("stdout %q, stderr %q; want the echoed stdin and the stderr frame", stdout, stderr)
	}

	code, _, stderr = volar(t, srv, "", "exec", "--stream", "nope", "cat")
	if code != 1 || stderr != "volar: sandbox \"nope\" not found\n" {
		t.Errorf("unknown sandbox: exit %d, stderr %q; want 1 and the problem detail", code, stderr)
	}
}
