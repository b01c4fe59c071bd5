package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// Faults that must lose nothing, with real guests (skipped under -short).

// vmDirs lists the VM runtime directories left in the state directory.
func vmDirs(t *testing.T, env *sandboxtest.Env) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(env.StateDir, "vms"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestFaultCorruptSnapshot: a snapshot whose memory file is cut short, or
// whose device state is overwritten, is refused with a clear error, and
// the refused creates leave nothing behind.
func TestFaultCorruptSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	env := sandboxtest.New(t, nil)
	m := env.Manager
	ctx := context.Background()
	sb, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	damages := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"memory truncated", func(t *testing.T, dir string) {
			// The largest file is guest memory (or the device state
			// holding it, when memory is streamed).
			p := largestFile(t, dir)
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"device state garbled", func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "state"), os.O_WRONLY, 0)
			if err != nil {
				t.Skipf("no device state file in this driver's snapshots: %v", err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("\xde\xad\xbe\xef garbled device state"), 64); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			snap, err := m.Snapshot(ctx, sb.ID)
			if err != nil {
				t.Fatal(err)
			}
			d.damage(t, filepath.Join(env.StateDir, "snapshots", snap.ID))
			before := vmDirs(t, env)
			_, err = m.Create(ctx, sandbox.Spec{FromSnapshot: snap.ID})
			if err == nil {
				t.Fatal("a create from a damaged snapshot succeeded")
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "is damaged") {
				t.Errorf("err = %v, want an invalid-argument error saying the snapshot is damaged", err)
			}
			page, err := m.List(ctx, sandbox.ListOptions{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != 1 {
				t.Errorf("%d sandboxes after the refused create, want only the source", len(page.Items))
			}
			if after := vmDirs(t, env); len(after) != len(before) {
				t.Errorf("vm dirs %v after the refused create, %v before", after, before)
			}
			if err := m.DeleteSnapshot(ctx, snap.ID); err != nil {
				t.Errorf("deleting the damaged snapshot: %v", err)
			}
		})
	}
	// The source is still usable.
	execOut(t, m, sb.ID, "true")
}

func largestFile(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var best string
	var size int64 = -1
	for _, e := range ents {
		if st, err := e.Info(); err == nil && st.Mode().IsRegular() && st.Size() > size {
			best, size = filepath.Join(dir, e.Name()), st.Size()
		}
	}
	return best
}

// TestFaultAgentStopped: with the VMM stopped (SIGSTOP), an exec times out
// with a clear error, the sandbox is marked, and once the VMM continues
// the sandbox answers again and the mark is gone.
func TestFaultAgentStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.AgentGrace = 5 * time.Second })
	m := env.Manager
	ctx := context.Background()
	sb, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	execOut(t, m, sb.ID, "true")
	if err := syscall.Kill(sb.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = syscall.Kill(sb.PID, syscall.SIGCONT)
		}
	})
	_, err = m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"true"}, Timeout: time.Second}, nil)
	if err == nil {
		t.Fatal("an exec in a stopped VM succeeded")
	}
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("err = %v, want an unavailable error saying the agent did not answer", err)
	}
	got, err := m.Get(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != sandbox.StateRunning || !strings.Contains(got.Reason, "did not answer") {
		t.Errorf("after the timeout: state %s reason %q, want running and marked", got.State, got.Reason)
	}
	if err := syscall.Kill(sb.PID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	execOut(t, m, sb.ID, "true")
	if got, err = m.Get(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if got.Reason != "" {
		t.Errorf("after the agent answered again, reason %q, want none", got.Reason)
	}
	if err := m.Delete(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	waitGone(t, sb.PID)
	if dirs := vmDirs(t, env); len(dirs) != 0 {
		t.Errorf("vm dirs left: %v", dirs)
	}
}

// TestFaultVMMKilledDuringSnapshot: the VMM killed while it writes a
// snapshot fails the snapshot and the sandbox (with a reason), and leaves
// no snapshot record, directory or VM behind.
func TestFaultVMMKilledDuringSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	env := sandboxtest.New(t, nil)
	m := env.Manager
	ctx := context.Background()
	sb, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := m.Snapshot(ctx, sb.ID); errc <- err }()
	snapRoot := filepath.Join(env.StateDir, "snapshots")
	deadline := time.Now().Add(2 * time.Minute)
	var snapErr error
	finished := false
	for !finished && time.Now().Before(deadline) {
		if ents, _ := os.ReadDir(snapRoot); len(ents) > 0 {
			break
		}
		select {
		case snapErr = <-errc:
			finished = true
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := syscall.Kill(sb.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !finished {
		snapErr = <-errc
	}
	snaps, err := m.ListSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snapErr == nil {
		t.Log("the snapshot finished before the VMM was killed")
		if len(snaps) != 1 {
			t.Errorf("%d snapshots listed after a snapshot that succeeded, want 1", len(snaps))
		}
	} else {
		t.Logf("snapshot: %v", snapErr)
		if len(snaps) != 0 {
			t.Errorf("%d snapshots listed after the snapshot failed, want none", len(snaps))
		}
		if ents, _ := os.ReadDir(snapRoot); len(ents) != 0 {
			t.Errorf("%d snapshot directories left after the snapshot failed", len(ents))
		}
	}
	// The sandbox is failed with a reason (the watcher sees the VMM go).
	var got *sandbox.Sandbox
	for time.Now().Before(deadline) {
		if got, err = m.Get(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		if got.State == sandbox.StateFailed {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got.State != sandbox.StateFailed || got.Reason == "" {
		t.Errorf("after the VMM was killed: state %s reason %q, want failed with a reason", got.State, got.Reason)
	}
	for _, s := range snaps {
		if err := m.DeleteSnapshot(ctx, s.ID); err != nil {
			t.Error(err)
		}
	}
	if err := m.Delete(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	waitGone(t, sb.PID)
	if dirs := vmDirs(t, env); len(dirs) != 0 {
		t.Errorf("vm dirs left: %v", dirs)
	}
}
