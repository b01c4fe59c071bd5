package hypervisortest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
)

// testSnapshotRestore checks a driver whose VMs are hypervisor.Snapshotters
// and which is a hypervisor.Restorer: a booted VM with a memory file is
// snapshotted and keeps running; a clone restored from the snapshot has
// the source's files, and its writes stay its own; a snapshot of the clone
// (a chain) restores too; Kill leaves no VM directory behind.
func testSnapshotRestore(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, guest Guest) {
	d := newDriver(t)
	r, ok := d.(hypervisor.Restorer)
	if !ok {
		t.Skipf("driver %s does not implement hypervisor.Restorer", d.Name())
	}
	if caps := d.Capabilities(); !caps.Snapshot || !caps.Restore {
		t.Skipf("driver %s reports no snapshot (%v) or restore (%v) capability on this host", d.Name(), caps.Snapshot, caps.Restore)
	}
	root := shortTempDir(t)

	cfg := Config(t, guest, "conf-snap-src")
	cfg.Dir = filepath.Join(root, "src")
	cfg.MemoryFile = filepath.Join(cfg.Dir, "mem")
	src := Boot(t, d, cfg)
	if _, ok := src.(hypervisor.Snapshotter); !ok {
		t.Skipf("driver %s: its VMs do not implement hypervisor.Snapshotter", d.Name())
	}
	ca := agentClient(t, src)
	writeGuestFile(t, ca, "/tmp/from-source", "written before the snapshot")

	snap1 := filepath.Join(root, "snap1")
	takeSnapshot(t, src, snap1)
	agentClient(t, src) // the source still answers

	clone := restoreClone(t, r, cfg, "conf-snap-clone", filepath.Join(root, "clone"), snap1)
	cc := agentClient(t, clone)
	wantGuestFile(t, cc, "/tmp/from-source", "written before the snapshot")
	writeGuestFile(t, cc, "/tmp/from-clone", "clone only")
	if _, err := readGuestFile(ca, "/tmp/from-clone"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("source reading the clone's file: got %v, want ErrNotFound", err)
	}

	// A chain: a snapshot of a restored VM restores too.
	snap2 := filepath.Join(root, "snap2")
	takeSnapshot(t, clone, snap2)
	agentClient(t, clone)
	chain := restoreClone(t, r, cfg, "conf-snap-chain", filepath.Join(root, "chain"), snap2)
	ch := agentClient(t, chain)
	wantGuestFile(t, ch, "/tmp/from-source", "written before the snapshot")
	wantGuestFile(t, ch, "/tmp/from-clone", "clone only")

	for _, vm := range []hypervisor.VM{src, clone, chain} {
		pid, dir := vm.PID(), vm.Dir()
		if err := vm.Kill(); err != nil {
			t.Errorf("Kill %s: %v", vm.ID(), err)
		}
		checkGone(t, pid, dir)
	}
}

// shortTempDir makes a temporary directory with a short path, removed when
// the test ends: unix socket paths in a VM directory are limited to 108
// bytes, and t.TempDir's names grow with the test's.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// takeSnapshot snapshots vm into dir.
func takeSnapshot(t testing.TB, vm hypervisor.VM, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := vm.(hypervisor.Snapshotter).Snapshot(ctx, dir)
	if err != nil {
		t.Fatalf("Snapshot of %s into %s: %v", vm.ID(), dir, err)
	}
	if info.Dir != dir {
		t.Errorf("SnapshotInfo.Dir: got %q, want %q", info.Dir, dir)
	}
	if st, err := vm.State(ctx); err != nil || st != hypervisor.StateRunning {
		t.Errorf("State of %s after Snapshot: got %v, %v; want running", vm.ID(), st, err)
	}
}

// restoreClone restores snapDir as a new VM with id and dir and the
// source config's size and network mode; it is killed when the test ends.
func restoreClone(t testing.TB, r hypervisor.Restorer, src hypervisor.Config, id, dir, snapDir string) hypervisor.VM {
	t.Helper()
	cfg := src
	cfg.ID, cfg.Dir, cfg.MemoryFile = id, dir, ""
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	vm, err := r.Restore(ctx, cfg, snapDir)
	if err != nil {
		t.Fatalf("Restore %s from %s: %v", id, snapDir, err)
	}
	t.Cleanup(func() { vm.Kill() })
	if got := vm.ID(); got != id {
		t.Errorf("ID of restored vm: got %q, want %q", got, id)
	}
	if got := vm.Dir(); got != dir {
		t.Errorf("Dir of restored vm: got %q, want %q", got, dir)
	}
	return vm
}

// agentClient waits until vm's agent answers and returns a client for it.
func agentClient(t testing.TB, vm hypervisor.VM) *client.Client {
	t.Helper()
	c := client.New(vm.DialAgent)
	t.Cleanup(c.CloseIdle)
	ctx, cancel := context.WithTimeout(context.Background(), AgentTimeout)
	defer cancel()
	if _, err := c.WaitReady(ctx); err != nil {
		t.Fatalf("agent of %s: %v; console:\n%s", vm.ID(), err, consoleTail(vm))
	}
	return c
}

func writeGuestFile(t testing.TB, c *client.Client, path, content string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WriteFile(ctx, path, strings.NewReader(content), client.WriteOptions{}); err != nil {
		t.Fatalf("writing %s in the guest: %v", path, err)
	}
}

func readGuestFile(c *client.Client, path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := c.ReadFileAll(ctx, path, 1<<20)
	return string(b), err
}

func wantGuestFile(t testing.TB, c *client.Client, path, want string) {
	t.Helper()
	if got, err := readGuestFile(c, path); err != nil || got != want {
		t.Errorf("guest file %s: got %q, %v; want %q", path, got, err, want)
	}
}
