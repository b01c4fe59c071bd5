package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/coder/websocket"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// execBody is how the REST API spells a sandbox.ExecRequest: the timeout
// in whole seconds and stdin as a string.
type execBody struct {
	Cmd            []string          `json:"cmd"`
	Env            map[string]string `json:"env,omitempty"`
	Cwd            string            `json:"cwd,omitempty"`
	User           string            `json:"user,omitempty"`
	Stdin          string            `json:"stdin,omitempty"`
	TimeoutS       int               `json:"timeout_s,omitempty"`
	MaxOutputBytes int               `json:"max_output_bytes,omitempty"`
	// PTY, Rows and Cols are the stream route's only.
	PTY  bool   `json:"pty,omitempty"`
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
}

func bodyOf(req sandbox.ExecRequest) execBody {
	return execBody{Cmd: req.Cmd, Env: req.Env, Cwd: req.Cwd, User: req.User, Stdin: string(req.Stdin),
		TimeoutS: int(math.Ceil(req.Timeout.Seconds())), MaxOutputBytes: req.MaxOutputBytes}
}

// Exec runs a command in a running sandbox and waits for it, answering its
// buffered output and exit status. A command that ran and failed is a
// result with its exit code, not an error.
func (c *Client) Exec(ctx context.Context, idOrName string, req sandbox.ExecRequest) (*sandbox.ExecResult, error) {
	var res sandbox.ExecResult
	if err := c.call(ctx, request{method: http.MethodPost, path: sandboxPath(idOrName, "exec"), jsonBody: bodyOf(req)}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// StreamRequest is a command run over the exec WebSocket.
type StreamRequest struct {
	// ExecRequest is the command; its Stdin must be empty (send input
	// with ExecSession.Stdin) and MaxOutputBytes does not apply.
	sandbox.ExecRequest
	// PTY runs the command on a terminal of Rows x Cols (default 24x80).
	PTY        bool
	Rows, Cols uint16
}

// ExecFrame is a message of an exec stream from the server.
type ExecFrame struct {
	// Type is "stdout" or "stderr" (Data is output), "output" (Data is
	// the raw terminal bytes of a PTY session, or a binary message), or
	// "exit", the last, with the command's end.
	Type       string `json:"type"`
	Data       []byte `json:"data,omitempty"`
	ExitCode   int    `json:"exit_code"`
	Signal     string `json:"signal,omitempty"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	// Error says why the agent could not report a normal end.
	Error string `json:"error,omitempty"`

	// Status, Message and Remedies are an "error" message's.
	Status   int              `json:"status,omitempty"`
	Message  string           `json:"message,omitempty"`
	Remedies []errdefs.Remedy `json:"remedies,omitempty"`
}

// ExecSession is one command run over GET /v1/sandboxes/{id}/exec/stream.
// Recv reads the output; Stdin, CloseStdin, Signal, Resize and Keys send
// input. Close ends the session (and kills the command if it runs).
type ExecSession struct {
	conn *websocket.Conn
	done bool
}

// ExecStream starts a command over the exec WebSocket.
func (c *Client) ExecStream(ctx context.Context, idOrName string, req StreamRequest) (*ExecSession, error) {
	if len(req.Stdin) > 0 {
		return nil, errdefs.Invalid("stdin: send it with ExecSession.Stdin, not in the request")
	}
	conn, err := c.dialWebSocket(ctx, sandboxPath(idOrName, "exec", "stream"))
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(4 << 20)
	b := bodyOf(req.ExecRequest)
	b.PTY, b.Rows, b.Cols = req.PTY, req.Rows, req.Cols
	first, err := json.Marshal(b)
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	if err := conn.Write(ctx, websocket.MessageText, first); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("sending the exec request: %w", err)
	}
	return &ExecSession{conn: conn}, nil
}

// Recv returns the next message of the session. After the "exit" frame it
// returns io.EOF. A failure the server reports is returned as an *Error
// with its class.
func (s *ExecSession) Recv(ctx context.Context) (*ExecFrame, error) {
	if s.done {
		return nil, io.EOF
	}
	typ, data, err := s.conn.Read(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("exec stream ended without an exit status: %w", err)
	}
	if typ != websocket.MessageText {
		return &ExecFrame{Type: "output", Data: data}, nil
	}
	var f ExecFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("exec stream: undecodable message: %w", err)
	}
	switch f.Type {
	case "error":
		s.done = true
		return nil, problem{Status: f.Status, Title: http.StatusText(f.Status), Detail: f.Message, Remedies: f.Remedies}.err()
	case "exit":
		s.done = true
		s.conn.Close(websocket.StatusNormalClosure, "")
	}
	return &f, nil
}

// clientFrame is a message of an exec stream to the server.
type clientFrame struct {
	Type   string `json:"type"`
	Data   []byte `json:"data,omitempty"`
	Signal string `json:"signal,omitempty"`
	Rows   uint16 `json:"rows,omitempty"`
	Cols   uint16 `json:"cols,omitempty"`
}

func (s *ExecSession) send(ctx context.Context, f clientFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.conn.Write(ctx, websocket.MessageText, b)
}

// Stdin sends input to the command (not on a PTY: use Keys).
func (s *ExecSession) Stdin(ctx context.Context, data []byte) error {
	return s.send(ctx, clientFrame{Type: "stdin", Data: data})
}

// CloseStdin sends EOF to the command (on a PTY, send Ctrl-D with Keys).
func (s *ExecSession) CloseStdin(ctx context.Context) error {
	return s.send(ctx, clientFrame{Type: "stdin_close"})
}

// Signal sends a signal ("INT", "TERM", ...) to the command's process
// group, or to a terminal's foreground group.
func (s *ExecSession) Signal(ctx context.Context, signal string) error {
	return s.send(ctx, clientFrame{Type: "signal", Signal: signal})
}

// Resize changes a PTY's window size.
func (s *ExecSession) Resize(ctx context.Context, rows, cols uint16) error {
	return s.send(ctx, clientFrame{Type: "resize", Rows: rows, Cols: cols})
}

// Keys sends raw bytes as a binary message: keystrokes on a PTY, stdin
// otherwise.
func (s *ExecSession) Keys(ctx context.Context, data []byte) error {
	return s.conn.Write(ctx, websocket.MessageBinary, data)
}

// Close ends the session; a command still running is killed.
func (s *ExecSession) Close() error {
	return s.conn.CloseNow()
}

// dialWebSocket opens a WebSocket to path, authenticated like every call.
// A refused handshake is returned as the server's *Error.
func (c *Client) dialWebSocket(ctx context.Context, path string) (*websocket.Conn, error) {
	h := http.Header{"User-Agent": {c.ua}}
	c.authorize(h)
	conn, resp, err := websocket.Dial(ctx, c.base+path, &websocket.DialOptions{HTTPClient: c.hc, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode >= 300 {
			return nil, decodeError(resp)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ae *Error
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, &TransportError{Method: http.MethodGet, URL: c.base + path, Err: err}
	}
	return conn, nil
}
