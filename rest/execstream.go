package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// maxWSMessage bounds one WebSocket message from a client.
const maxWSMessage = 1 << 20

// streamRequest is the first message of an exec stream.
type streamRequest struct {
	execBody
	PTY  bool   `json:"pty,omitempty"`
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
}

// clientFrame is a text message from the client of an exec stream.
type clientFrame struct {
	Type   string `json:"type"`
	Data   []byte `json:"data,omitempty"`
	Signal string `json:"signal,omitempty"`
	Rows   uint16 `json:"rows,omitempty"`
	Cols   uint16 `json:"cols,omitempty"`
}

// outputFrame carries output to the client.
type outputFrame struct {
	Type string `json:"type"`
	Data []byte `json:"data"`
}

// exitFrame is the last message of a session.
type exitFrame struct {
	Type       string `json:"type"`
	ExitCode   int    `json:"exit_code"`
	Signal     string `json:"signal,omitempty"`
	TimedOut   bool   `json:"timed_out"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

// errorFrame reports a failure before the close.
type errorFrame struct {
	Type    string `json:"type"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// acceptSandboxWS checks the sandbox of a WebSocket route before upgrading,
// so that a bad id or unknown sandbox gets a plain problem answer.
func (s *server) acceptSandboxWS(w http.ResponseWriter, r *http.Request, what string) (*sandbox.Sandbox, *websocket.Conn, bool) {
	sb, err := s.eng.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, what, err)
		return nil, nil, false
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		// Accept has answered the client.
		return nil, nil, false
	}
	c.SetReadLimit(maxWSMessage)
	return sb, c, true
}

// wsFail sends an error frame for err and closes c.
func (s *server) wsFail(ctx context.Context, c *websocket.Conn, what string, err error) {
	status, detail := classify(err)
	s.logFailure(ctx, what, status, err)
	writeJSON(ctx, c, errorFrame{Type: "error", Status: status, Message: detail})
	code := websocket.StatusPolicyViolation
	if status >= 500 {
		code = websocket.StatusInternalError
	}
	c.Close(code, truncateReason(detail))
}

func writeJSON(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

// truncateReason fits a close reason into a control frame.
func truncateReason(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

func (s *server) execStream(w http.ResponseWriter, r *http.Request) {
	sb, c, ok := s.acceptSandboxWS(w, r, "exec stream")
	if !ok {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()

	typ, data, err := c.Read(ctx)
	if err != nil {
		return
	}
	if typ != websocket.MessageText {
		s.wsFail(ctx, c, "exec stream", errdefs.Invalid("the first message must be the JSON exec request as a text message"))
		return
	}
	var req streamRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.wsFail(ctx, c, "exec stream", errdefs.Invalid("exec request: %v", err))
		return
	}
	if err := req.validate(); err != nil {
		s.wsFail(ctx, c, "exec stream", err)
		return
	}
	agent, err := s.eng.Guest(ctx, sb.ID)
	if err != nil {
		s.wsFail(ctx, c, "exec stream", err)
		return
	}
	if req.PTY {
		s.ptySession(ctx, c, agent, sb, &req)
		return
	}
	s.processSession(ctx, c, agent, sb, &req)
}

func (r *streamRequest) validate() error {
	if r.Stdin != "" {
		return errdefs.Invalid("stdin: send it as stdin messages on the WebSocket, not in the request")
	}
	// Streams have no default timeout (0 means none): they end with the
	// WebSocket.
	return r.execBody.Request().Validate()
}

// processSession runs a command as an agent process: output is polled
// from the agent's ring and sent as JSON frames; client frames become stdin
// writes and signals.
func (s *server) processSession(ctx context.Context, c *websocket.Conn, agent *sandbox.Guest, sb *sandbox.Sandbox, req *streamRequest) {
	info, err := agent.StartProcess(ctx, req.execBody.Request())
	if err != nil {
		s.wsFail(ctx, c, "exec stream", err)
		return
	}
	defer func() {
		// Kill it if it still runs and let the agent forget it.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := agent.DeleteProcess(dctx, sandbox.ProcessRequest{ProcessID: info.ID}); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			s.log.Warn("removing exec stream process", "sandbox", sb.ID, "process", info.ID, "err", err)
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel() // the client went away: stop polling, kill the command
		s.pumpInput(ctx, c, agent, info.ID)
	}()
	defer wg.Wait()

	var offset int64
	for {
		out, err := agent.ReadProcess(ctx, sandbox.ReadProcessRequest{ProcessID: info.ID, Offset: offset, WaitSeconds: 10})
		if err != nil {
			if ctx.Err() == nil {
				s.wsFail(ctx, c, "exec stream", err)
			}
			return
		}
		for _, ch := range out.Chunks {
			if err := writeJSON(ctx, c, outputFrame{Type: ch.Stream, Data: ch.Data}); err != nil {
				return
			}
		}
		offset = out.NextOffset
		if out.Done {
			f := exitFrame{Type: "exit", ExitCode: -1}
			if out.Exit != nil {
				f = exitFrame{Type: "exit", ExitCode: out.Exit.ExitCode, Signal: out.Exit.Signal,
					TimedOut: out.Exit.TimedOut, DurationMS: out.Exit.DurationMS, Error: out.Exit.Error}
			}
			if err := writeJSON(ctx, c, f); err != nil {
				return
			}
			c.Close(websocket.StatusNormalClosure, "")
			return
		}
	}
}

// pumpInput forwards the client's frames to the process until the client
// closes or ctx ends.
func (s *server) pumpInput(ctx context.Context, c *websocket.Conn, agent *sandbox.Guest, pid string) {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			if err := agent.WriteProcess(ctx, sandbox.ProcessRequest{ProcessID: pid}, bytes.NewReader(data), false); err != nil {
				if errors.Is(err, errdefs.ErrConflict) {
					continue // the command has ended; its exit frame follows
				}
				s.wsFail(ctx, c, "exec stream stdin", err)
				return
			}
			continue
		}
		var f clientFrame
		if err := json.Unmarshal(data, &f); err != nil {
			s.wsFail(ctx, c, "exec stream", errdefs.Invalid("message: %v; send JSON like {\"type\":\"stdin\",\"data\":\"<base64>\"}", err))
			return
		}
		switch f.Type {
		case "stdin":
			err = agent.WriteProcess(ctx, sandbox.ProcessRequest{ProcessID: pid}, bytes.NewReader(f.Data), false)
		case "stdin_close":
			err = agent.WriteProcess(ctx, sandbox.ProcessRequest{ProcessID: pid}, nil, true)
		case "signal":
			if strings.TrimSpace(f.Signal) == "" {
				err = errdefs.Invalid("signal message without a signal: add \"signal\":\"INT\"")
			} else {
				err = agent.SignalProcess(ctx, sandbox.ProcessRequest{ProcessID: pid}, f.Signal)
			}
		case "resize":
			// Meaningless without a terminal; ignore.
		default:
			err = errdefs.Invalid("message type %q: use stdin, stdin_close or signal", f.Type)
		}
		if err != nil && (f.Type == "stdin" || f.Type == "stdin_close") && errors.Is(err, errdefs.ErrConflict) {
			// The command has already ended (or closed its stdin): its
			// exit frame follows; input for it is moot, not an error.
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.wsFail(ctx, c, "exec stream input", err)
			}
			return
		}
	}
}
