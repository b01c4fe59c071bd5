package live_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/volant-sh/volant/sandbox"
)

// TestLivePTY runs an interactive shell in a guest over the exec
// WebSocket: keystrokes in, terminal bytes out, a resize, a signal to the
// foreground job and the shell's exit status.
func TestLivePTY(t *testing.T) {
	a, _ := newAPI(t)
	ctx := context.Background()
	var sb sandbox.Sandbox
	a.do("POST", "/v1/sandboxes", map[string]any{}, &sb, http.StatusCreated)

	u := "ws" + strings.TrimPrefix(a.srv.URL, "http") + "/v1/sandboxes/" + sb.ID + "/exec/stream"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + a.token}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	var out strings.Builder
	send := func(v any) {
		t.Helper()
		data, _ := json.Marshal(v)
		if err := c.Write(ctx, websocket.MessageText, data); err != nil {
			t.Fatalf("sending %s: %v", data, err)
		}
	}
	keys := func(s string) {
		t.Helper()
		if err := c.Write(ctx, websocket.MessageBinary, []byte(s)); err != nil {
			t.Fatalf("sending keys %q: %v", s, err)
		}
	}
	// next reads terminal output up to the next text frame.
	next := func() map[string]any {
		t.Helper()
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("reading: %v; output so far %q", err, out.String())
			}
			if typ == websocket.MessageBinary {
				out.Write(data)
				continue
			}
			var f map[string]any
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	// until reads terminal output until it holds want, and drops it.
	until := func(want string) {
		t.Helper()
		for !strings.Contains(out.String(), want) {
			typ, data, err := c.Read(ctx)
			if err != nil || typ != websocket.MessageBinary {
				t.Fatalf("waiting for %q: %v %s; output so far %q", want, err, data, out.String())
			}
			out.Write(data)
		}
		s := out.String()
		out.Reset()
		out.WriteString(s[strings.Index(s, want)+len(want):])
	}

	send(map[string]any{"cmd": []string{"sh"}, "pty": true, "rows": 24, "cols": 80})
	// Quotes split the markers so that the terminal's echo of the typed
	// line does not match them.
	keys("echo h''i\n")
	until("hi\r\n")
	keys("stty size\n")
	until("24 80\r\n")

	send(map[string]any{"type": "resize", "rows": 50, "cols": 132})
	keys("stty size\n")
	until("50 132\r\n")

	// INT reaches the foreground job, which prints its marker once it
	// owns the terminal.
	keys("sh -c 'echo sleep''ing; exec sleep 600'\n")
	until("sleeping\r\n")
	send(map[string]any{"type": "signal", "signal": "INT"})
	keys("echo after-i''nt\n")
	until("after-int\r\n")

	keys("exit 3\n")
	f := next()
	if f["type"] != "exit" || f["exit_code"] != float64(3) {
		t.Fatalf("last frame %v, want exit 3; output %q", f, out.String())
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after exit: %v, want a normal close", err)
	}
}
