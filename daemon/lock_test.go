package daemon

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/volant-sh/volant/internal/logging"
)

// lockHelperEnv makes the test binary a stand-in daemon: it takes the
// lock of the directory named there and starts children without end, as
// a daemon starting VMMs does.
const lockHelperEnv = "VOLANT_TEST_LOCK_HELPER"

func TestLockHelper(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("the stand-in daemon of the lock tests; runs only as their child")
	}
	if _, err := lockStateDir(context.Background(), dir, logging.Discard()); err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString("locked\n")
	for range 4 {
		go func() {
			for {
				c := exec.Command("/bin/true")
				c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
				_ = c.Run()
			}
		}()
	}
	select {}
}

// startOwner runs a stand-in daemon holding dir's lock.
func startOwner(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("stand-in daemon: %q, %v", line, err)
	}
	return cmd
}

// TestLockFreeAfterCrash kills a lock owner that is busy starting children
// and takes the lock at once after it has been reaped, as a supervisor
// restarting volantd does. With flock(2) a child between fork and exec
// still held the lock in most rounds.
func TestLockFreeAfterCrash(t *testing.T) {
	dir := t.TempDir()
	for i := range 20 {
		owner := startOwner(t, dir)
		if !Owned(dir) {
			t.Fatalf("round %d: Owned = false while a daemon holds the lock", i)
		}
		_ = owner.Process.Kill()
		_ = owner.Wait()
		f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		locked, pid, err := tryLock(f)
		f.Close()
		if err != nil || !locked {
			t.Fatalf("round %d: the lock is still held after its owner was reaped (holder pid %d, err %v)", i, pid, err)
		}
	}
}

func TestLockOwned(t *testing.T) {
	dir := t.TempDir()
	log := logging.Discard()
	owner := startOwner(t, dir)
	_, err := lockStateDir(context.Background(), dir, log)
	if !errors.Is(err, ErrOwned) {
		t.Fatalf("lockStateDir with a live owner: %v, want ErrOwned", err)
	}
	if want := "pid " + strconv.Itoa(owner.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the owner (%s)", err, want)
	}
	_ = owner.Process.Kill()
	_ = owner.Wait()
	if Owned(dir) {
		t.Error("Owned = true after the owner exited")
	}

	// In this process: a second lock is refused, Owned says so without
	// dropping the lock, and unlocking frees the directory.
	f, err := lockStateDir(context.Background(), dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockStateDir(context.Background(), dir, log); !errors.Is(err, ErrOwned) {
		t.Errorf("second lockStateDir in one process: %v, want ErrOwned", err)
	}
	if !Owned(dir) || !Owned(dir) {
		t.Error("Owned = false while this process holds the lock")
	}
	unlockStateDir(dir, f)
	if Owned(dir) {
		t.Error("Owned = true after unlock")
	}
}
