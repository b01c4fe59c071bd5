package proc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// maxRequestBytes bounds an exec request body (stdin included).
const maxRequestBytes = 64 << 20

func decodeRequest(w http.ResponseWriter, r *http.Request) (client.ExecRequest, bool) {
	var req client.ExecRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil {
		reply.Invalid(w, fmt.Sprintf("decoding exec request: %v", err))
		return req, false
	}
	return req, true
}

// handleExec runs a command to completion. Without "stream" it answers an
// ExecResult; with it, NDJSON OutputFrames flushed as output arrives and a
// last frame holding the result. A command that cannot start is not an
// HTTP error: it ends with exit code 127 or 126 and Error set. The request
// ending (client gone) kills the process group.
func (s *Service) handleExec(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeRequest(w, r)
	if !ok {
		return
	}
	sp, err := resolve(req)
	var inv *invalidError
	if errors.As(err, &inv) {
		reply.Invalid(w, inv.msg)
		return
	}
	var c *child
	if err == nil {
		c, err = startChild(s.reaper, sp, req.Stdin, false)
	}
	var out *ndjson
	if req.Stream {
		out = newNDJSON(w)
	}
	var se *StartError
	if errors.As(err, &se) {
		res := client.ExecResult{ExitCode: se.Code, Error: se.Msg}
		if out != nil {
			out.frame(client.OutputFrame{Exit: &res})
		} else {
			reply.JSON(w, http.StatusOK, res)
		}
		return
	}
	if err != nil {
		reply.Error(w, http.StatusInternalServerError, reply.CodeInternal, err.Error())
		return
	}
	s.log.Debug("exec", "pid", c.pid, "argv", req.Argv)

	limit := req.MaxOutputBytes
	if limit == 0 {
		limit = client.DefaultMaxOutputBytes
	}
	stdout := &capBuffer{limit: limit}
	stderr := &capBuffer{limit: limit}
	sink := func(stream string, data []byte) {
		if out != nil {
			out.frame(client.OutputFrame{Stream: stream, Data: data})
			return
		}
		if stream == client.StreamStdout {
			stdout.write(data)
		} else {
			stderr.write(data)
		}
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	ws, timedOut := c.supervise(timeout, r.Context().Done(), sink, s.waitDelay)
	res := result(ws, c.started)
	res.TimedOut = timedOut
	if out != nil {
		out.frame(client.OutputFrame{Exit: &res})
		return
	}
	res.Stdout, res.StdoutTruncated = stdout.bytes()
	res.Stderr, res.StderrTruncated = stderr.bytes()
	reply.JSON(w, http.StatusOK, res)
}

// ndjson writes frames one per line and flushes each.
type ndjson struct {
	mu  sync.Mutex
	w   io.Writer
	rc  *http.ResponseController
	enc *json.Encoder
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	return &ndjson{w: w, rc: rc, enc: json.NewEncoder(w)}
}

func (n *ndjson) frame(f client.OutputFrame) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.enc.Encode(f) == nil {
		_ = n.rc.Flush()
	}
}
