package proc

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// maxWait bounds a long-poll of process output.
const maxWait = 60 * time.Second

// process is a command started through POST /v1/processes.
type process struct {
	id      string
	argv    []string
	child   *child
	out     *ring
	stopped chan struct{} // closed when the supervisor returned

	mu      sync.Mutex
	stdin   *os.File // nil once closed
	stdinMu sync.Mutex
}

func (p *process) info() client.ProcessInfo {
	info := client.ProcessInfo{
		ID:        p.id,
		PID:       p.child.pid,
		Argv:      p.argv,
		StartedNS: p.child.started.UnixNano(),
		Running:   true,
	}
	if res := p.out.ended(); res != nil {
		info.Running = false
		info.Exit = res
	}
	return info
}

func (p *process) closeStdin() {
	p.mu.Lock()
	f := p.stdin
	p.stdin = nil
	p.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "p-" + hex.EncodeToString(b[:])
}

func (s *Service) handleStart(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeRequest(w, r)
	if !ok {
		return
	}
	sp, err := resolve(req)
	var c *child
	if err == nil {
		c, err = startChild(s.reaper, sp, req.Stdin, true)
	}
	var inv *invalidError
	var se *StartError
	switch {
	case errors.As(err, &inv):
		reply.Invalid(w, inv.msg)
		return
	case errors.As(err, &se):
		// No process to poll later: say why at once.
		status := http.StatusBadRequest
		code := reply.CodeInvalid
		if se.Code == ExitNotFound {
			status, code = http.StatusNotFound, reply.CodeNotFound
		}
		reply.Error(w, status, code, se.Msg)
		return
	case err != nil:
		reply.Error(w, http.StatusInternalServerError, reply.CodeInternal, err.Error())
		return
	}
	limit := req.MaxOutputBytes
	if limit == 0 {
		limit = client.DefaultMaxOutputBytes
	}
	p := &process{id: newID(), argv: req.Argv, child: c, out: newRing(limit), stdin: c.stdin, stopped: make(chan struct{})}
	s.mu.Lock()
	s.procs[p.id] = p
	s.order = append(s.order, p.id)
	s.pruneLocked()
	s.mu.Unlock()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(p.stopped)
		timeout := time.Duration(req.TimeoutMS) * time.Millisecond
		ws, timedOut := c.supervise(timeout, s.ctx.Done(), p.out.append, s.waitDelay)
		p.closeStdin()
		res := result(ws, c.started)
		res.TimedOut = timedOut
		p.out.finish(res)
		s.log.Debug("process ended", "id", p.id, "pid", c.pid, "exit_code", res.ExitCode)
	}()
	s.log.Debug("process started", "id", p.id, "pid", c.pid, "argv", req.Argv)
	reply.JSON(w, http.StatusCreated, p.info())
}

// pruneLocked forgets the oldest ended processes beyond the budget.
func (s *Service) pruneLocked() {
	excess := len(s.order) - s.maxProcs
	if excess <= 0 {
		return
	}
	s.order = slices.DeleteFunc(s.order, func(id string) bool {
		if excess <= 0 {
			return false
		}
		if s.procs[id].out.ended() != nil {
			delete(s.procs, id)
			excess--
			return true
		}
		return false
	})
}

func (s *Service) lookup(w http.ResponseWriter, r *http.Request) *process {
	id := r.PathValue("id")
	s.mu.Lock()
	p := s.procs[id]
	s.mu.Unlock()
	if p == nil {
		reply.Error(w, http.StatusNotFound, reply.CodeNotFound, fmt.Sprintf("process %s not found; list processes with GET /v1/processes", id))
	}
	return p
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	list := make([]client.ProcessInfo, 0, len(s.order))
	for _, id := range s.order {
		list = append(list, s.procs[id].info())
	}
	s.mu.Unlock()
	reply.JSON(w, http.StatusOK, list)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	if p := s.lookup(w, r); p != nil {
		reply.JSON(w, http.StatusOK, p.info())
	}
}

// handleOutput answers the output since ?offset=N. With ?wait_ms=M and no
// new output yet, it waits up to M milliseconds for output or the end.
func (s *Service) handleOutput(w http.ResponseWriter, r *http.Request) {
	p := s.lookup(w, r)
	if p == nil {
		return
	}
	q := r.URL.Query()
	var offset, waitMS int64
	var err error
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.ParseInt(v, 10, 64); err != nil || offset < 0 {
			reply.Invalid(w, "offset must be a non-negative integer (a next_offset from an earlier answer)")
			return
		}
	}
	if v := q.Get("wait_ms"); v != "" {
		if waitMS, err = strconv.ParseInt(v, 10, 64); err != nil || waitMS < 0 {
			reply.Invalid(w, "wait_ms must be a non-negative integer")
			return
		}
	}
	out, changed := p.out.read(offset)
	if waitMS > 0 && len(out.Chunks) == 0 && !out.Done {
		t := time.NewTimer(min(time.Duration(waitMS)*time.Millisecond, maxWait))
		defer t.Stop()
		select {
		case <-changed:
			out, _ = p.out.read(offset)
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	reply.JSON(w, http.StatusOK, out)
}

// handleStdin writes the raw body to the process's stdin; ?close=true
// closes stdin afterwards.
func (s *Service) handleStdin(w http.ResponseWriter, r *http.Request) {
	p := s.lookup(w, r)
	if p == nil {
		return
	}
	closeAfter, _ := strconv.ParseBool(r.URL.Query().Get("close"))
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	p.mu.Lock()
	f := p.stdin
	p.mu.Unlock()
	if f == nil {
		reply.Error(w, http.StatusConflict, reply.CodeConflict, fmt.Sprintf("stdin of process %s is closed", p.id))
		return
	}
	n, err := io.Copy(f, r.Body)
	if err != nil {
		reply.Error(w, http.StatusConflict, reply.CodeConflict, fmt.Sprintf("writing stdin of process %s after %d bytes: %v", p.id, n, err))
		return
	}
	if closeAfter {
		p.closeStdin()
	}
	reply.JSON(w, http.StatusOK, map[string]int64{"written": n})
}

func (s *Service) handleSignal(w http.ResponseWriter, r *http.Request) {
	p := s.lookup(w, r)
	if p == nil {
		return
	}
	var req client.SignalRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		reply.Invalid(w, fmt.Sprintf("decoding signal request: %v", err))
		return
	}
	sig, err := ParseSignal(req.Signal)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	if p.out.ended() != nil {
		reply.Error(w, http.StatusConflict, reply.CodeConflict, fmt.Sprintf("process %s has already ended", p.id))
		return
	}
	if err := p.child.killGroup(sig); err != nil {
		reply.FromErr(w, err)
		return
	}
	reply.JSON(w, http.StatusOK, p.info())
}

// handleDelete kills the process group, waits for the process to end and
// forgets it.
func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) {
	p := s.lookup(w, r)
	if p == nil {
		return
	}
	if p.out.ended() == nil {
		_ = p.child.killGroup(syscall.SIGKILL)
		select {
		case <-p.stopped:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	if s.procs[p.id] == p {
		delete(s.procs, p.id)
		s.order = slices.DeleteFunc(s.order, func(id string) bool { return id == p.id })
	}
	s.mu.Unlock()
	reply.JSON(w, http.StatusOK, p.info())
}
