package workload

import (
	"sync"
	"syscall"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/proc"
)

// workload is one supervised workload: a spec, its output ring and the
// status its supervisor (run) keeps up to date.
type workload struct {
	name string
	spec client.WorkloadSpec // normalized; never changed
	logs *logRing

	stopOnce sync.Once
	stopc    chan struct{} // closed to ask the supervisor to stop
	launched chan struct{} // closed once the first start was tried (or given up)
	done     chan struct{} // closed when the supervisor returned

	mu      sync.Mutex
	st      client.WorkloadStatus
	changed chan struct{} // closed and replaced at every change of state
}

func newWorkload(name string, spec client.WorkloadSpec) *workload {
	return &workload{
		name:     name,
		spec:     spec,
		logs:     newLogRing(logSize),
		stopc:    make(chan struct{}),
		launched: make(chan struct{}),
		done:     make(chan struct{}),
		st:       client.WorkloadStatus{Name: name, Spec: spec, State: client.WorkloadStarting},
		changed:  make(chan struct{}),
	}
}

// stop asks the supervisor to stop the workload; it does not wait.
func (w *workload) stop() { w.stopOnce.Do(func() { close(w.stopc) }) }

// stopping reports whether stop was called.
func (w *workload) stopping() bool {
	select {
	case <-w.stopc:
		return true
	default:
		return false
	}
}

// status returns the current status and a channel closed at its next
// change.
func (w *workload) status() (client.WorkloadStatus, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	if st.LastExitCode != nil {
		code := *st.LastExitCode
		st.LastExitCode = &code
	}
	return st, w.changed
}

// settled reports whether st will not become ready without a new start:
// it ended for good or was stopped.
func settled(st client.WorkloadStatus) bool {
	return st.State == client.WorkloadExited || st.State == client.WorkloadStopped
}

// update changes the status under the lock and wakes the waiters.
func (w *workload) update(f func(st *client.WorkloadStatus)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.st)
	close(w.changed)
	w.changed = make(chan struct{})
}

// setStarted records a process that started; without a port it is ready
// at once.
func (w *workload) setStarted(pid int, at time.Time, restart bool) {
	w.update(func(st *client.WorkloadStatus) {
		if restart {
			st.Restarts++
		}
		st.PID, st.StartedAt, st.LastError = pid, at, ""
		st.Ready = w.spec.Port == 0
		st.State = client.WorkloadStarting
		if st.Ready {
			st.State = client.WorkloadReady
		}
	})
}

// setStartFailed records a start that failed with exit code code.
func (w *workload) setStartFailed(code int, msg string, restart bool) {
	w.update(func(st *client.WorkloadStatus) {
		if restart {
			st.Restarts++
		}
		st.PID, st.Ready = 0, false
		st.LastExitCode, st.LastSignal, st.LastError = &code, "", "cannot start: "+msg
	})
}

// setReady marks the process pid ready, if it still runs.
func (w *workload) setReady(pid int) {
	w.update(func(st *client.WorkloadStatus) {
		if st.PID == pid && pid != 0 {
			st.Ready, st.State, st.LastError = true, client.WorkloadReady, ""
		}
	})
}

// setProbeError notes a failed readiness check of process pid. Waiters are
// not woken: it is no change they wait for.
func (w *workload) setProbeError(pid int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st.PID == pid && !w.st.Ready {
		w.st.LastError = err.Error()
	}
}

// setExited records how the process ended.
func (w *workload) setExited(ws syscall.WaitStatus) {
	code, sig := exitCode(ws)
	w.update(func(st *client.WorkloadStatus) {
		st.PID, st.Ready = 0, false
		st.LastExitCode, st.LastSignal = &code, sig
	})
}

// setState sets the state; for states without a process (backoff, exited,
// stopped) it is not ready.
func (w *workload) setState(state string) {
	w.update(func(st *client.WorkloadStatus) {
		st.State = state
		if state != client.WorkloadStarting && state != client.WorkloadReady {
			st.PID, st.Ready = 0, false
		}
	})
}

// exitCode is a wait status as an exit code (128+n for signal n) and the
// signal's name.
func exitCode(ws syscall.WaitStatus) (int, string) {
	switch {
	case ws.Exited():
		return ws.ExitStatus(), ""
	case ws.Signaled():
		return 128 + int(ws.Signal()), proc.SignalName(ws.Signal())
	default:
		return -1, ""
	}
}
