package rest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// termConn is the client side of a pty exec stream and the terminal
// output it has read but not yet matched.
type termConn struct {
	t   *testing.T
	c   *websocket.Conn
	out strings.Builder
}

func (tc *termConn) send(v any) {
	tc.t.Helper()
	data, _ := json.Marshal(v)
	if err := tc.c.Write(context.Background(), websocket.MessageText, data); err != nil {
		tc.t.Fatalf("sending %s: %v", data, err)
	}
}

func (tc *termConn) keys(s string) {
	tc.t.Helper()
	if err := tc.c.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		tc.t.Fatalf("sending keys %q: %v", s, err)
	}
}

// until reads terminal output until it contains want and keeps what
// follows want. A text frame on the way fails the test.
func (tc *termConn) until(want string) {
	tc.t.Helper()
	for !strings.Contains(tc.out.String(), want) {
		typ, data, err := tc.c.Read(context.Background())
		if err != nil {
			tc.t.Fatalf("waiting for %q: %v; output so far %q", want, err, tc.out.String())
		}
		if typ != websocket.MessageBinary {
			tc.t.Fatalf("waiting for %q: text frame %s; output so far %q", want, data, tc.out.String())
		}
		tc.out.Write(data)
	}
	s := tc.out.String()
	rest := s[strings.Index(s, want)+len(want):]
	tc.out.Reset()
	tc.out.WriteString(rest)
}

// frame reads terminal output until the next text frame and returns it.
func (tc *termConn) frame() frame {
	tc.t.Helper()
	for {
		typ, data, err := tc.c.Read(context.Background())
		if err != nil {
			tc.t.Fatalf("waiting for a text frame: %v; output so far %q", err, tc.out.String())
		}
		if typ == websocket.MessageBinary {
			tc.out.Write(data)
			continue
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			tc.t.Fatal(err)
		}
		return f
	}
}

func (e *env) pty(t *testing.T, id string, req map[string]any) *termConn {
	t.Helper()
	c := e.dialWS(t, "/v1/sandboxes/"+id+"/exec/stream")
	tc := &termConn{t: t, c: c}
	req["pty"] = true
	tc.send(req)
	return tc
}

func TestExecStreamPTY(t *testing.T) {
	e := newEnv(t)
	id := e.create(t)

	t.Run("shell", func(t *testing.T) {
		tc := e.pty(t, id, map[string]any{"cmd": []string{"sh"}, "rows": 30, "cols": 90})
		// The marker is split in the command so that the terminal's echo
		// of the input does not match it.
		tc.keys("stty size; echo \"$SB_VAR\"; tty >/dev/null && echo is-a-t''ty\n")
		tc.until("30 90\r\nfrom-sandbox\r\nis-a-tty\r\n")

		tc.send(map[string]any{"type": "resize", "rows": 40, "cols": 100})
		tc.keys("stty size\n")
		tc.until("40 100\r\n")

		// INT reaches the foreground job, not the shell. The job prints
		// its marker once it owns the terminal.
		tc.keys("sh -c 'echo sleep''ing; exec sleep 600'\n")
		tc.until("sleeping\r\n")
		tc.send(map[string]any{"type": "signal", "signal": "INT"})
		tc.keys("echo after-i''nt\n")
		tc.until("after-int\r\n")

		tc.keys("exit 3\n")
		f := tc.frame()
		if f.Type != "exit" || f.ExitCode != 3 {
			t.Fatalf("last frame %+v, want exit 3", f)
		}
		if _, _, err := tc.c.Read(context.Background()); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Errorf("after exit: %v, want a normal close", err)
		}
	})

	t.Run("killed by a signal", func(t *testing.T) {
		tc := e.pty(t, id, map[string]any{"cmd": []string{"sh", "-c", "echo ready; exec sleep 600"}})
		tc.until("ready\r\n")
		tc.send(map[string]any{"type": "signal", "signal": "TERM"})
		if f := tc.frame(); f.Type != "exit" || f.Signal != "TERM" || f.ExitCode != 143 {
			t.Errorf("after TERM: %+v, want exit 143 by TERM", f)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		tc := e.pty(t, id, map[string]any{"cmd": []string{"sh", "-c", "echo ready; exec sleep 600"}, "timeout_s": 1})
		tc.until("ready\r\n")
		if f := tc.frame(); f.Type != "exit" || !f.TimedOut || f.Signal != "KILL" {
			t.Errorf("after the timeout: %+v, want a timed out exit by KILL", f)
		}
	})

	for _, tt := range []struct {
		name string
		msg  map[string]any
		want string
	}{
		{"bad resize", map[string]any{"type": "resize", "rows": 0, "cols": 80}, "rows and cols"},
		{"bad signal", map[string]any{"type": "signal", "signal": "NOPE"}, "unknown signal"},
		{"stdin_close", map[string]any{"type": "stdin_close"}, "Ctrl-D"},
		{"unknown type", map[string]any{"type": "bogus"}, "bogus"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := e.pty(t, id, map[string]any{"cmd": []string{"sh", "-c", "echo ready; exec sleep 600"}})
			tc.until("ready\r\n")
			tc.send(tt.msg)
			f := tc.frame()
			if f.Type != "error" || f.Status != 400 || !strings.Contains(f.Message, tt.want) {
				t.Errorf("frame %+v, want a 400 error mentioning %q", f, tt.want)
			}
			if _, _, err := tc.c.Read(context.Background()); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Errorf("close: %v, want policy violation", err)
			}
		})
	}

	t.Run("command not found", func(t *testing.T) {
		tc := e.pty(t, id, map[string]any{"cmd": []string{"no-such-command-xyz"}})
		if f := tc.frame(); f.Type != "error" || f.Status != 404 {
			t.Errorf("frame %+v, want a 404 error", f)
		}
	})
}
