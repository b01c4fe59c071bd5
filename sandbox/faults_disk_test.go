package sandbox_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// smallStateDir mounts a tmpfs of sizeMiB as a state directory and
// unmounts it at the end of the test (root only).
func smallStateDir(t *testing.T, sizeMiB int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small state directory needs root")
	}
	dir, err := os.MkdirTemp("", "vfl") // short: unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeMiB)+"m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		_ = os.Remove(dir)
		t.Skipf("mounting a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting %s: %v: %s", dir, err, out)
		}
		_ = os.Remove(dir)
	})
	return dir
}

// fill writes a file into dir until the file system is full; it returns
// the file's path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			return p
		}
	}
}

// TestFaultStateDirFull: with the state directory full, a snapshot and a
// create fail with an error and leave nothing behind; the sandbox that was
// running is still usable, and once there is room again both work.
func TestFaultStateDirFull(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	state := smallStateDir(t, 512)
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.StateDir = state })
	m := env.Manager
	ctx := context.Background()
	sb, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	filler := fill(t, state)

	// A snapshot into a full state directory.
	if snap, err := m.Snapshot(ctx, sb.ID); err == nil {
		t.Errorf("a snapshot into a full state directory succeeded: %s", snap.ID)
	} else if !errors.Is(err, errdefs.ErrResourceExhausted) || !strings.Contains(err.Error(), "no space for the snapshot") {
		t.Errorf("snapshot into a full state directory: %v; want a resource-exhausted error that says there is no space", err)
	}
	snaps, err := m.ListSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 0 {
		t.Errorf("%d snapshots listed after the failed snapshot, want none", len(snaps))
	}
	if ents, _ := os.ReadDir(filepath.Join(state, "snapshots")); len(ents) != 0 {
		t.Errorf("%d snapshot directories left after the failed snapshot", len(ents))
	}
	execOut(t, m, sb.ID, "true") // still usable

	// A create into a full state directory.
	before := vmDirs(t, env)
	if sb2, err := m.Create(ctx, sandbox.Spec{DiskMiB: 16}); err == nil {
		t.Errorf("a create with a data disk into a full state directory succeeded: %s", sb2.ID)
	} else {
		t.Logf("create: %v", err)
	}
	page, err := m.List(ctx, sandbox.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Errorf("%d sandboxes after the failed create, want only the first", len(page.Items))
	}
	if after := vmDirs(t, env); len(after) != len(before) {
		t.Errorf("vm dirs %v after the failed create, %v before", after, before)
	}

	// Room again: both work.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	snap, err := m.Snapshot(ctx, sb.ID)
	if err != nil {
		t.Fatalf("snapshot once there is room: %v", err)
	}
	sb2, err := m.Create(ctx, sandbox.Spec{FromSnapshot: snap.ID})
	if err != nil {
		t.Fatalf("create once there is room: %v", err)
	}
	execOut(t, m, sb2.ID, "true")
}
