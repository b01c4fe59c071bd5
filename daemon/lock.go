package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The state directory's lock says which volantd owns it. It is a POSIX
// record lock (fcntl F_SETLK), not flock(2), on purpose:
//
//   - A flock belongs to the open file, which every fork shares until the
//     child execs. A daemon killed while it is starting a VMM (fork, then
//     exec of QEMU) leaves a child that still holds the lock after the
//     daemon has been reaped, and a supervisor's immediate restart found
//     the directory "owned" (TestCrashDuringCreates under load; the lock
//     test below reproduces it with flock in most attempts).
//   - A record lock belongs to the process: a child never inherits it,
//     and the kernel drops it as the process exits, before its parent
//     can reap it. So a restart after the old daemon's exit has been
//     reported always finds the lock free.
//
// The price of record locks: closing any descriptor of the lock file in
// the owning process drops the lock. The file is opened only here, and
// Owned never opens it in a process that holds it.

// ErrOwned is returned by New when another daemon owns the state directory.
var ErrOwned = errors.New("another volantd owns this state directory")

// lockWait bounds how long New waits for a lock whose holder is exiting.
const lockWait = 30 * time.Second

var (
	heldMu sync.Mutex
	// held maps a state directory to its lock file, for the locks this
	// process holds.
	held = map[string]*os.File{}
)

// lockStateDir takes the state directory's exclusive lock, or returns
// ErrOwned naming the process that has it. A holder that is exiting (a
// crashed daemon the kernel is still tearing down) is waited for, up to
// lockWait, so a supervisor can restart volantd right after a crash.
func lockStateDir(ctx context.Context, dir string, log *slog.Logger) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[dir] != nil {
		return nil, fmt.Errorf("%s: %w (this process)", dir, ErrOwned)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening state lock: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	logged := false
	for {
		locked, pid, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking state dir %s: %w", dir, err)
		}
		if locked {
			break
		}
		// pid 0: the holder let go between the two calls, or lives in a
		// pid namespace this process cannot see.
		state := "unknown"
		if pid != 0 {
			state = procState(pid)
		}
		if time.Now().After(deadline) || (pid != 0 && !exiting(state)) {
			f.Close()
			return nil, fmt.Errorf("%s: %w (%s); stop that daemon first, or use another --state-dir", dir, ErrOwned, describe(pid, state))
		}
		if !logged && pid != 0 {
			log.Info("waiting for the state lock: its holder is exiting", "pid", pid, "state", state, "at_most", lockWait)
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the lock of %s: %w", dir, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	held[dir] = f
	return f, nil
}

// unlockStateDir releases the lock lockStateDir took.
func unlockStateDir(dir string, f *os.File) {
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[dir] == f {
		delete(held, dir)
	}
	_ = f.Close()
}

// tryLock takes f's write lock, or returns the pid of the process that
// holds it (0 if it cannot say).
func tryLock(f *os.File) (locked bool, pid int, err error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	err = unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	if err == nil {
		return true, 0, nil
	}
	if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
		return false, 0, err
	}
	pid, err = lockHolder(f)
	return false, pid, err
}

// lockHolder returns the pid holding a lock on f, or 0 if none does.
func lockHolder(f *os.File) (int, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return 0, err
	}
	if lk.Type == unix.F_UNLCK {
		return 0, nil
	}
	return int(lk.Pid), nil
}

// procState is the state letter of pid in /proc (R, S, D, Z, X, ...), or
// "" when pid is gone.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// exiting reports whether a process in state is on its way out.
func exiting(state string) bool { return state == "" || state == "Z" || state == "X" }

// describe names the holder pid for a message: its command and state.
func describe(pid int, state string) string {
	if pid == 0 {
		return "held by a process this one cannot see"
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Sprintf("held by pid %d", pid)
	}
	return fmt.Sprintf("held by pid %d, %s, state %s", pid, strings.TrimSpace(string(comm)), state)
}

// Owned reports whether a daemon holds dir's lock.
func Owned(dir string) bool {
	heldMu.Lock()
	mine := held[dir] != nil
	heldMu.Unlock()
	if mine {
		return true
	}
	f, err := os.Open(filepath.Join(dir, lockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	pid, err := lockHolder(f)
	return err == nil && pid != 0
}
