// Package term serves interactive terminal sessions over WebSocket
// (GET /v1/pty). Binary messages carry terminal bytes both ways; text
// messages carry client.PTYControl JSON: "resize" and "signal" from the
// host, and "exit" from the agent as its last message before closing.
package term

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
)

// Server serves PTY sessions.
type Server struct {
	reaper *reaper.Reaper
	log    *slog.Logger
}

// New returns a PTY server whose children are reaped by r.
func New(r *reaper.Reaper, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{reaper: r, log: log}
}

// Register adds GET /v1/pty to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/pty", s.handle)
}

// request parses ?argv=..&argv=..&env=K=V&cwd=&user=&rows=&cols=. Without
// argv the session runs /bin/sh -l.
func request(r *http.Request) (client.ExecRequest, *pty.Winsize, error) {
	q := r.URL.Query()
	req := client.ExecRequest{Argv: q["argv"], Env: q["env"], Cwd: q.Get("cwd"), User: q.Get("user")}
	if len(req.Argv) == 0 {
		req.Argv = []string{"/bin/sh", "-l"}
	}
	ws := &pty.Winsize{Rows: 24, Cols: 80}
	for name, dst := range map[string]*uint16{"rows": &ws.Rows, "cols": &ws.Cols} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil || n == 0 {
				return req, nil, fmt.Errorf("%s must be a positive integer below 65536", name)
			}
			*dst = uint16(n)
		}
	}
	return req, ws, nil
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	req, size, err := request(r)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	sp, err := proc.Prepare(req)
	if err != nil {
		var se *proc.StartError
		if errors.As(err, &se) && se.Code == proc.ExitNotFound {
			reply.Error(w, http.StatusNotFound, reply.CodeNotFound, err.Error())
			return
		}
		reply.Invalid(w, err.Error())
		return
	}
	ptmx, tty, err := openPTY()
	if err != nil {
		reply.Error(w, http.StatusServiceUnavailable, reply.CodeUnavailable, fmt.Sprintf("opening a pty: %v", err))
		return
	}
	defer ptmx.Close()
	_ = setSize(ptmx, size.Rows, size.Cols)
	attr := sp.ProcAttr([]*os.File{tty, tty, tty})
	attr.Sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Credential: attr.Sys.Credential}
	pid, exited, err := s.reaper.StartProcess(sp.Path, sp.Argv, attr)
	tty.Close()
	if err != nil {
		reply.Error(w, http.StatusBadRequest, reply.CodeInvalid, fmt.Sprintf("starting %s: %v", req.Argv[0], err))
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
		return
	}
	conn.SetReadLimit(1 << 20)
	s.log.Debug("pty started", "pid", pid, "argv", req.Argv)
	s.session(r.Context(), conn, ptmx, pid, exited)
}

// session pumps the terminal until the process exits or the host goes.
func (s *Server) session(ctx context.Context, conn *websocket.Conn, ptmx *os.File, pid int, exited <-chan syscall.WaitStatus) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	// Terminal output to the host.
	outDone := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(outDone)
		buf := make([]byte, 32<<10)
		for {
			n, err := ptmx.Read(buf)
			if n > 0 {
				if conn.Write(ctx, websocket.MessageBinary, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				return // EIO once every holder of the tty is gone
			}
		}
	}()
	// Host input and control messages.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			typ, data, err := conn.Read(ctx)
			if err != nil {
				cancel()
				return
			}
			if typ == websocket.MessageBinary {
				if _, err := ptmx.Write(data); err != nil {
					return
				}
				continue
			}
			var c client.PTYControl
			if json.Unmarshal(data, &c) != nil {
				continue
			}
			switch c.Type {
			case "resize":
				if c.Rows > 0 && c.Cols > 0 {
					_ = setSize(ptmx, c.Rows, c.Cols)
				}
			case "signal":
				if sig, err := proc.ParseSignal(c.Signal); err == nil {
					signalForeground(ptmx, pid, sig)
				}
			}
		}
	}()

	var ws syscall.WaitStatus
	select {
	case ws = <-exited:
	case <-ctx.Done():
		// The host went away: end the session's processes.
		_ = syscall.Kill(-pid, syscall.SIGHUP)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
		conn.CloseNow()
		ptmx.SetReadDeadline(time.Now())
		return
	}
	// Let the last output through, unless something else still holds the tty.
	select {
	case <-outDone:
	case <-time.After(250 * time.Millisecond):
		ptmx.SetReadDeadline(time.Now())
		<-outDone
	}
	exit := client.PTYControl{Type: "exit"}
	switch {
	case ws.Exited():
		exit.ExitCode = ws.ExitStatus()
	case ws.Signaled():
		exit.ExitCode = 128 + int(ws.Signal())
		exit.Signal = proc.SignalName(ws.Signal())
	}
	msg, _ := json.Marshal(exit)
	_ = conn.Write(ctx, websocket.MessageText, msg)
	conn.Close(websocket.StatusNormalClosure, "exited")
	cancel()
}

// signalForeground signals the terminal's foreground process group, or the
// session leader's group if that cannot be told.
func signalForeground(ptmx *os.File, pid int, sig syscall.Signal) {
	pgrp := pid
	if rc, err := ptmx.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if g, err := unix.IoctlGetInt(int(fd), unix.TIOCGPGRP); err == nil && g > 0 {
				pgrp = g
			}
		})
	}
	_ = syscall.Kill(-pgrp, sig)
}

// openPTY opens a pty pair whose master is non-blocking and managed by the
// runtime poller, so reads can be interrupted with a deadline.
func openPTY() (ptmx, tty *os.File, err error) {
	m, t, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	fd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		t.Close()
		return nil, nil, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		t.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), m.Name()), t, nil
}

// setSize sets the terminal's window size without making ptmx blocking.
func setSize(ptmx *os.File, rows, cols uint16) error {
	rc, err := ptmx.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
	if err != nil {
		return err
	}
	return ierr
}
