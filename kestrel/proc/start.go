package proc

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/reaper"
)

// child is a started command: its own process group, with pipes for
// stdout and stderr and, if kept, stdin.
type child struct {
	pid     int
	started time.Time
	stdin   *os.File // write end; nil when stdin was /dev/null or already fed
	stdout  *os.File // read end
	stderr  *os.File // read end
	exited  <-chan syscall.WaitStatus
}

// startChild starts sp in a new process group. When keepStdin is set the
// child's stdin is a pipe whose write end is returned (after input is
// written); otherwise input (possibly empty) is fed from a pipe that is
// then closed, or /dev/null when there is none.
func startChild(r *reaper.Reaper, sp spec, input []byte, keepStdin bool) (*child, error) {
	var closeAfter, closeOnErr []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	fail := func(err error) (*child, error) {
		for _, f := range closeOnErr {
			f.Close()
		}
		return nil, err
	}
	var stdinR, stdinW *os.File
	var err error
	if keepStdin || len(input) > 0 {
		if stdinR, stdinW, err = os.Pipe(); err != nil {
			return fail(fmt.Errorf("stdin pipe: %w", err))
		}
		closeAfter = append(closeAfter, stdinR)
		closeOnErr = append(closeOnErr, stdinW)
	} else {
		if stdinR, err = os.Open(os.DevNull); err != nil {
			return fail(err)
		}
		closeAfter = append(closeAfter, stdinR)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(fmt.Errorf("stdout pipe: %w", err))
	}
	closeAfter = append(closeAfter, outW)
	closeOnErr = append(closeOnErr, outR)
	errR, errW, err := os.Pipe()
	if err != nil {
		return fail(fmt.Errorf("stderr pipe: %w", err))
	}
	closeAfter = append(closeAfter, errW)
	closeOnErr = append(closeOnErr, errR)

	attr := &os.ProcAttr{
		Dir:   sp.dir,
		Env:   sp.env,
		Files: []*os.File{stdinR, outW, errW},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Credential: sp.cred},
	}
	started := time.Now()
	pid, exited, err := r.StartProcess(sp.path, sp.argv, attr)
	if err != nil {
		return fail(startFailure(sp, err))
	}
	c := &child{pid: pid, started: started, stdout: outR, stderr: errR, exited: exited}
	if stdinW != nil {
		if keepStdin {
			c.stdin = stdinW
			if len(input) > 0 {
				go func() { _, _ = stdinW.Write(input) }()
			}
		} else {
			go func() {
				_, _ = stdinW.Write(input)
				stdinW.Close()
			}()
		}
	}
	return c, nil
}

// startFailure turns an exec error into a StartError with a shell's code.
func startFailure(sp spec, err error) error {
	if pe, ok := err.(*os.PathError); ok {
		switch pe.Err {
		case syscall.ENOENT:
			return &StartError{ExitNotFound, fmt.Sprintf("%s: %v", sp.argv[0], pe.Err)}
		case syscall.EACCES, syscall.ENOEXEC, syscall.EPERM:
			return &StartError{ExitCannotExecute, fmt.Sprintf("%s: %v", sp.argv[0], pe.Err)}
		}
	}
	return &StartError{ExitCannotExecute, fmt.Sprintf("starting %s: %v", sp.argv[0], err)}
}

// killGroup sends sig to the child's whole process group.
func (c *child) killGroup(sig syscall.Signal) error {
	err := syscall.Kill(-c.pid, sig)
	if err == syscall.ESRCH {
		return nil
	}
	return err
}

// pump copies both output pipes to sink until they reach EOF or drained
// is closed; it closes the read ends. drained is closed by the caller
// a short while after the process group leader exits, so background
// processes holding the pipes open cannot stall the answer.
func (c *child) pump(sink func(stream string, data []byte), stop <-chan struct{}) {
	var wg sync.WaitGroup
	copyOne := func(f *os.File, name string) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				sink(name, buf[:n])
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go copyOne(c.stdout, client.StreamStdout)
	go copyOne(c.stderr, client.StreamStderr)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-stop:
		// Pipes are pollable: a deadline unblocks the readers.
		c.stdout.SetReadDeadline(time.Now())
		c.stderr.SetReadDeadline(time.Now())
		<-done
	}
	c.stdout.Close()
	c.stderr.Close()
}

// result builds the result of an exit status.
func result(ws syscall.WaitStatus, started time.Time) client.ExecResult {
	res := client.ExecResult{DurationMS: time.Since(started).Milliseconds()}
	switch {
	case ws.Exited():
		res.ExitCode = ws.ExitStatus()
	case ws.Signaled():
		res.ExitCode = 128 + int(ws.Signal())
		res.Signal = SignalName(ws.Signal())
	default:
		res.ExitCode = -1
	}
	return res
}

// supervise waits for the child to exit while enforcing timeout and stop
// (a cancelled request). Once the leader has exited it waits up to
// waitDelay for the pipes, and returns the exit status.
func (c *child) supervise(timeout time.Duration, cancel <-chan struct{}, sink func(string, []byte), waitDelay time.Duration) (syscall.WaitStatus, bool) {
	pumpStop := make(chan struct{})
	pumped := make(chan struct{})
	go func() {
		c.pump(sink, pumpStop)
		close(pumped)
	}()
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	timedOut, cancelled := false, false
	var ws syscall.WaitStatus
wait:
	for {
		select {
		case ws = <-c.exited:
			break wait
		case <-timer:
			timedOut = true
			timer = nil
			_ = c.killGroup(syscall.SIGKILL)
		case <-cancel:
			cancel, cancelled = nil, true
			_ = c.killGroup(syscall.SIGKILL)
		}
	}
	if timedOut || cancelled {
		// Kill what is left of the group as well.
		_ = c.killGroup(syscall.SIGKILL)
	}
	grace := time.NewTimer(waitDelay)
	defer grace.Stop()
	select {
	case <-pumped:
	case <-grace.C:
		close(pumpStop)
		<-pumped
	}
	return ws, timedOut
}
