package rest

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/sandbox"
)

// ptySession runs an interactive terminal session: the agent's PTY
// session relayed to the client. Terminal bytes travel as binary messages
// both ways; the client's text messages resize the terminal or signal its
// foreground process group; the last message is the exit frame.
func (s *server) ptySession(ctx context.Context, c *websocket.Conn, agent *sandbox.Guest, sb *sandbox.Sandbox, req *streamRequest) {
	start := time.Now()
	sess, err := agent.PTY(ctx, sandbox.PTYRequest{ExecRequest: req.execBody.Request(), Rows: int(req.Rows), Cols: int(req.Cols)})
	if err != nil {
		s.wsFail(ctx, c, "exec stream pty", err)
		return
	}
	// Closing the agent's session kills the terminal's processes if they
	// still run.
	defer sess.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel() // the client went away or misbehaved: end the session
		s.pumpPTYInput(ctx, c, sess)
	}()

	var timedOut bool
	var timeoutMu sync.Mutex
	if req.TimeoutS > 0 {
		t := time.AfterFunc(time.Duration(req.TimeoutS)*time.Second, func() {
			timeoutMu.Lock()
			timedOut = true
			timeoutMu.Unlock()
			sess.Close()
		})
		defer t.Stop()
	}

	buf := make([]byte, 32<<10)
	for {
		n, err := sess.Read(buf)
		if n > 0 {
			if c.Write(ctx, websocket.MessageBinary, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return
	}
	timeoutMu.Lock()
	killed := timedOut
	timeoutMu.Unlock()
	f := exitFrame{Type: "exit", DurationMS: time.Since(start).Milliseconds()}
	if killed {
		// The agent hangs up and kills the terminal's process group.
		f.ExitCode, f.Signal, f.TimedOut = 128+int(unix.SIGKILL), "KILL", true
	} else {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		exit, err := sess.Wait(wctx)
		wcancel()
		if err != nil {
			if ctx.Err() == nil {
				s.wsFail(ctx, c, "exec stream pty", errdefs.Unavailable("the terminal session ended without an exit status (%v); check that the sandbox still runs and retry", err))
			}
			return
		}
		f.ExitCode, f.Signal = exit.ExitCode, exit.Signal
	}
	if writeJSON(ctx, c, f) != nil {
		return
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// pumpPTYInput forwards the client's keystrokes and control messages to
// the terminal until the client closes or ctx ends. Once the terminal is
// gone it keeps reading (and drops) what the client sends, so that the
// output side can still deliver the exit frame.
func (s *server) pumpPTYInput(ctx context.Context, c *websocket.Conn, sess *client.PTYSession) {
	ended := false
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if ended {
			continue
		}
		if typ == websocket.MessageBinary {
			_, err = sess.Write(data)
		} else {
			err = ptyControl(ctx, sess, data)
		}
		if errors.Is(err, errdefs.ErrInvalidArgument) {
			s.wsFail(ctx, c, "exec stream pty input", err)
			return
		}
		ended = err != nil
	}
}

// ptyControl applies one text message of the client to the terminal.
func ptyControl(ctx context.Context, sess *client.PTYSession, data []byte) error {
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return errdefs.Invalid("message: %v; send keystrokes as binary messages, or JSON like {\"type\":\"resize\",\"rows\":24,\"cols\":80}", err)
	}
	switch f.Type {
	case "stdin":
		_, err := sess.Write(f.Data)
		return err
	case "resize":
		if f.Rows == 0 || f.Cols == 0 {
			return errdefs.Invalid("resize message needs rows and cols above 0, like {\"type\":\"resize\",\"rows\":24,\"cols\":80}")
		}
		return sess.Resize(ctx, f.Rows, f.Cols)
	case "signal":
		if err := validSignal(f.Signal); err != nil {
			return err
		}
		return sess.Signal(ctx, f.Signal)
	case "stdin_close":
		return errdefs.Invalid("a terminal has no end of input: send Ctrl-D (a binary message of byte 4) to end a shell's input")
	default:
		return errdefs.Invalid("message type %q: with pty send keystrokes as binary (or stdin) messages, and resize or signal messages", f.Type)
	}
}

// validSignal accepts what the agent does: "INT", "SIGINT" or a number
// from 1 to 64.
func validSignal(sig string) error {
	sig = strings.TrimSpace(sig)
	if sig == "" {
		return errdefs.Invalid("signal message without a signal: add \"signal\":\"INT\"")
	}
	if n, err := strconv.Atoi(sig); err == nil {
		if n < 1 || n > 64 {
			return errdefs.Invalid("signal number %d: use 1 to 64, or a name like INT", n)
		}
		return nil
	}
	name := strings.ToUpper(sig)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) == 0 {
		return errdefs.Invalid("unknown signal %q: use a name like INT, TERM, KILL or a number", sig)
	}
	return nil
}
