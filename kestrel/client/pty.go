package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"

	"github.com/coder/websocket"
)

// PTYRequest describes an interactive terminal session. Without Argv the
// agent runs /bin/sh -l. Rows and Cols default to 24x80.
type PTYRequest struct {
	Argv []string
	Env  []string
	Cwd  string
	User string
	Rows uint16
	Cols uint16
}

// query encodes the request as GET /v1/pty parameters.
func (r PTYRequest) query() url.Values {
	q := url.Values{}
	for _, a := range r.Argv {
		q.Add("argv", a)
	}
	for _, e := range r.Env {
		q.Add("env", e)
	}
	if r.Cwd != "" {
		q.Set("cwd", r.Cwd)
	}
	if r.User != "" {
		q.Set("user", r.User)
	}
	if r.Rows > 0 {
		q.Set("rows", strconv.Itoa(int(r.Rows)))
	}
	if r.Cols > 0 {
		q.Set("cols", strconv.Itoa(int(r.Cols)))
	}
	return q
}

// PTYExit is how a terminal session's process ended.
type PTYExit struct {
	ExitCode int
	// Signal names the signal that killed it, if any.
	Signal string
}

// PTYSession is an interactive terminal. Read returns terminal output
// until the process has exited (then io.EOF); output must be read for the
// session to make progress. Close ends the session (and the agent kills
// its processes if they still run).
type PTYSession struct {
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	pr     *io.PipeReader
	pw     *io.PipeWriter
	done   chan struct{}

	mu   sync.Mutex
	exit *PTYExit
	err  error
}

// PTY opens an interactive terminal session over WebSocket. ctx bounds the
// handshake only; the session lives until Close or the process's exit.
func (c *Client) PTY(ctx context.Context, req PTYRequest) (*PTYSession, error) {
	u := "ws://agent/v1/pty?" + req.query().Encode()
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.http})
	if err != nil {
		if resp != nil && resp.StatusCode/100 != 1 && resp.StatusCode/100 != 2 {
			return nil, decodeError(resp)
		}
		return nil, fmt.Errorf("opening pty session: %w", err)
	}
	conn.SetReadLimit(1 << 20)
	sctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &PTYSession{conn: conn, ctx: sctx, cancel: cancel, pr: pr, pw: pw, done: make(chan struct{})}
	go s.readLoop()
	return s, nil
}

func (s *PTYSession) readLoop() {
	defer close(s.done)
	for {
		typ, data, err := s.conn.Read(s.ctx)
		if err != nil {
			s.mu.Lock()
			if s.exit == nil {
				s.err = fmt.Errorf("pty session ended without an exit status: %w", err)
			}
			s.mu.Unlock()
			s.pw.CloseWithError(io.EOF)
			return
		}
		if typ == websocket.MessageBinary {
			if _, err := s.pw.Write(data); err != nil {
				return
			}
			continue
		}
		var c PTYControl
		if json.Unmarshal(data, &c) == nil && c.Type == "exit" {
			s.mu.Lock()
			s.exit = &PTYExit{ExitCode: c.ExitCode, Signal: c.Signal}
			s.mu.Unlock()
			s.pw.CloseWithError(io.EOF)
			s.conn.Close(websocket.StatusNormalClosure, "")
			return
		}
	}
}

// Read reads terminal output.
func (s *PTYSession) Read(p []byte) (int, error) { return s.pr.Read(p) }

// Write sends terminal input (keystrokes).
func (s *PTYSession) Write(p []byte) (int, error) {
	if err := s.conn.Write(s.ctx, websocket.MessageBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *PTYSession) control(ctx context.Context, c PTYControl) error {
	data, _ := json.Marshal(c)
	return s.conn.Write(ctx, websocket.MessageText, data)
}

// Resize sets the terminal's window size.
func (s *PTYSession) Resize(ctx context.Context, rows, cols uint16) error {
	return s.control(ctx, PTYControl{Type: "resize", Rows: rows, Cols: cols})
}

// Signal sends a signal ("INT", "TERM", ...) to the terminal's foreground
// process group.
func (s *PTYSession) Signal(ctx context.Context, signal string) error {
	return s.control(ctx, PTYControl{Type: "signal", Signal: signal})
}

// Wait waits for the process to exit and returns how it ended. Output not
// yet read is discarded.
func (s *PTYSession) Wait(ctx context.Context) (*PTYExit, error) {
	go func() { _, _ = io.Copy(io.Discard, s.pr) }()
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		return s.exit, nil
	}
	if s.err == nil {
		s.err = errors.New("pty session closed")
	}
	return nil, s.err
}

// Close ends the session. It is idempotent.
func (s *PTYSession) Close() error {
	s.conn.Close(websocket.StatusNormalClosure, "closed by host")
	s.cancel()
	s.pr.CloseWithError(io.ErrClosedPipe)
	<-s.done
	return nil
}
