package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
)

// drainDelay is how long output is still read after a process group is
// gone, in case something outside the group holds the pipe open.
const drainDelay = 250 * time.Millisecond

// runner holds what every workload's supervisor shares.
type runner struct {
	reaper *reaper.Reaper
	probe  *prober
	grace  time.Duration
	log    *slog.Logger
}

// run supervises w until it is stopped or ends for good. prev, when not
// nil, is the workload w replaces: it is stopped, and w starts only once
// it is gone (its port is free again).
func (r *runner) run(w *workload, prev *workload) {
	defer close(w.done)
	launched := sync.OnceFunc(func() { close(w.launched) })
	defer launched()
	if prev != nil {
		prev.stop()
		<-prev.done
	}
	var bo backoff
	for attempt := 0; ; attempt++ {
		if w.stopping() {
			w.setState(client.WorkloadStopped)
			return
		}
		ran, failed, stopped := r.runOnce(w, attempt > 0, launched)
		if stopped {
			w.setState(client.WorkloadStopped)
			return
		}
		if !restarts(w.spec.Restart, failed) {
			w.setState(client.WorkloadExited)
			r.log.Info("workload ended", "workload", w.name, "restart", w.spec.Restart)
			return
		}
		wait := bo.next(ran)
		w.setState(client.WorkloadBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.stopc:
			t.Stop()
			w.setState(client.WorkloadStopped)
			return
		}
	}
}

// restarts reports whether policy restarts a process that ended (failed:
// non-zero exit, a signal or a failed start).
func restarts(policy string, failed bool) bool {
	switch policy {
	case client.RestartNever:
		return false
	case client.RestartOnFailure:
		return failed
	default:
		return true
	}
}

// runOnce starts w's process once and supervises it until it ends or w
// is stopped. It returns how long the process ran, whether it failed and
// whether it was stopped. A start that fails counts as a failed run of no
// time, so that it backs off like a crash.
func (r *runner) runOnce(w *workload, restart bool, launched func()) (ran time.Duration, failed, stopped bool) {
	w.logs.mark()
	c, err := r.start(w.spec)
	if err != nil {
		code, msg := startFailure(w.spec, err)
		w.setStartFailed(code, msg, restart)
		launched()
		r.log.Warn("workload cannot start", "workload", w.name, "err", msg)
		return 0, true, false
	}
	w.setStarted(c.pid, c.started, restart)
	launched()
	r.log.Info("workload started", "workload", w.name, "pid", c.pid, "restart", restart)

	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		pump(c.out, w.logs)
	}()
	ctx, cancelProbe := context.WithCancel(context.Background())
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		if r.probe.wait(ctx, w.spec, func(err error) { w.setProbeError(c.pid, err) }) {
			w.setReady(c.pid)
		}
	}()

	var ws syscall.WaitStatus
	select {
	case ws = <-c.exited:
	case <-w.stopc:
		ws = r.terminate(c)
		stopped = true
	}
	cancelProbe()
	<-probed
	// The workload is its process group: what the leader leaves behind
	// goes with it, so a restart finds its port free.
	_ = killGroup(c.pid, syscall.SIGKILL)
	drain(c.out, pumped)
	w.setExited(ws)
	code, sig := exitCode(ws)
	r.log.Info("workload exited", "workload", w.name, "pid", c.pid, "exit_code", code, "signal", sig, "stopped", stopped)
	return time.Since(c.started), !(ws.Exited() && ws.ExitStatus() == 0), stopped
}

// terminate sends TERM to c's group and KILL after the grace period, and
// returns the leader's exit status.
func (r *runner) terminate(c *child) syscall.WaitStatus {
	_ = killGroup(c.pid, syscall.SIGTERM)
	t := time.NewTimer(r.grace)
	defer t.Stop()
	select {
	case ws := <-c.exited:
		return ws
	case <-t.C:
		_ = killGroup(c.pid, syscall.SIGKILL)
		return <-c.exited
	}
}

// child is a started workload process: the leader of its own process
// group, with stdout and stderr on one pipe.
type child struct {
	pid     int
	started time.Time
	out     *os.File // read end of the output pipe
	exited  <-chan syscall.WaitStatus
}

// start starts spec's command the way proc starts an exec: resolved by
// proc.Prepare, in a new process group, under the agent's reaper. Its
// stdin is /dev/null; stdout and stderr share one pipe, so their output
// stays in order.
func (r *runner) start(spec client.WorkloadSpec) (*child, error) {
	sp, err := proc.Prepare(execRequest(spec))
	if err != nil {
		return nil, err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	attr := sp.ProcAttr([]*os.File{null, outW, outW})
	attr.Sys.Setpgid = true
	started := time.Now()
	pid, exited, err := r.reaper.StartProcess(sp.Path, sp.Argv, attr)
	outW.Close()
	if err != nil {
		outR.Close()
		return nil, err
	}
	return &child{pid: pid, started: started, out: outR, exited: exited}, nil
}

// startFailure is a start error as a shell's exit code (127 not found,
// 126 cannot execute) and a message saying what happened.
func startFailure(spec client.WorkloadSpec, err error) (int, string) {
	var se *proc.StartError
	if errors.As(err, &se) {
		return se.Code, se.Msg
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		if pe.Err == syscall.ENOENT {
			return proc.ExitNotFound, fmt.Sprintf("%s: %v (a script's interpreter may be missing)", spec.Command[0], pe.Err)
		}
		return proc.ExitCannotExecute, fmt.Sprintf("%s: %v", spec.Command[0], pe.Err)
	}
	return proc.ExitCannotExecute, fmt.Sprintf("starting %s: %v", spec.Command[0], err)
}

// killGroup sends sig to process group pgid; a group already gone is no
// error.
func killGroup(pgid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pgid, sig); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}

// pump copies the output pipe into logs until it ends.
func pump(out *os.File, logs *logRing) {
	buf := make([]byte, 32<<10)
	for {
		n, err := out.Read(buf)
		if n > 0 {
			_, _ = logs.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// drain waits for the pump to reach the pipe's end, or for drainDelay
// when something outside the group keeps the pipe open; then it stops
// the pump and closes the pipe.
func drain(out *os.File, pumped <-chan struct{}) {
	t := time.NewTimer(drainDelay)
	defer t.Stop()
	select {
	case <-pumped:
	case <-t.C:
		// Pipes are pollable: a deadline unblocks the reader.
		_ = out.SetReadDeadline(time.Now())
		<-pumped
	}
	out.Close()
}
