package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/hypervisortest"
	"github.com/volant-sh/volant/kestrel/client"
)

// restore restores snap into a fresh VM that is killed when the test ends.
func restore(t testing.TB, d *Driver, cfg hypervisor.Config, snap string) *VM {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	vm, err := d.Restore(ctx, cfg, snap)
	if err != nil {
		t.Fatalf("Restore %s from %s: %v", cfg.ID, snap, err)
	}
	t.Cleanup(func() { vm.Kill() })
	return vm.(*VM)
}

func snapshot(t testing.TB, vm hypervisor.VM, dir string) hypervisor.SnapshotInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := vm.(hypervisor.Snapshotter).Snapshot(ctx, dir)
	if err != nil {
		t.Fatalf("Snapshot of %s: %v", vm.ID(), err)
	}
	return info
}

func agentOf(t testing.TB, vm hypervisor.VM) *client.Client {
	t.Helper()
	c := client.New(vm.DialAgent)
	t.Cleanup(c.CloseIdle)
	ctx, cancel := context.WithTimeout(context.Background(), hypervisortest.AgentTimeout)
	defer cancel()
	if _, err := c.WaitReady(ctx); err != nil {
		t.Fatalf("agent of %s: %v", vm.ID(), err)
	}
	return c
}

func readGuest(t testing.TB, c *client.Client, path string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := c.ReadFileAll(ctx, path, 1<<20)
	return string(b), err
}

func writeGuest(t testing.TB, c *client.Client, path, content string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WriteFile(ctx, path, strings.NewReader(content), client.WriteOptions{}); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// waitChange waits until the guest file at path differs from old (the
// ticker process writes it every 0.2 s of guest time).
func waitChange(t testing.TB, c *client.Client, path, old string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := readGuest(t, c, path)
		if err == nil && got != old && got != "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not change from %q within 30s (last %q, %v)", path, old, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func makeQcow2(t testing.TB, path string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", path, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
}

// TestSnapshotRestore is the whole story: a booted VM with a memory file
// and a qcow2 disk, a file and a background process in the guest; a
// snapshot; the original and two clones running side by side, each with
// its own writes; a chain of snapshots of clones (memory in the stream).
func TestSnapshotRestore(t *testing.T) {
	skipUnlessBootable(t)
	d := newTestDriver(t)
	if !d.Capabilities().Snapshot || !d.Capabilities().Restore {
		t.Fatal("Capabilities do not report snapshot and restore")
	}
	cfg := hypervisortest.Config(t, testGuest, "snap-src")
	cfg.MemoryFile = filepath.Join(cfg.Dir, "mem")
	cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
	disk := filepath.Join(t.TempDir(), "data.qcow2")
	makeQcow2(t, disk)
	cfg.Disks = []hypervisor.Disk{{Path: disk, Format: "qcow2"}}
	src := hypervisortest.Boot(t, d, cfg)
	ca := agentOf(t, src)
	ctx := context.Background()
	writeGuest(t, ca, "/tmp/hello", "from the source")
	if _, err := ca.StartProcess(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "while true; do date +%s%N > /tmp/tick; sleep 0.2; done"}}); err != nil {
		t.Fatalf("StartProcess: %v", err)
	}
	// Something on the disk, written by the guest.
	if res, err := ca.Exec(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "echo on-disk | dd of=/dev/vda bs=512 conv=sync,fsync 2>&1"}}, nil); err != nil || res.ExitCode != 0 {
		t.Fatalf("writing the disk: %v %+v", err, res)
	}
	tick := waitChange(t, ca, "/tmp/tick", "")

	snap1 := filepath.Join(t.TempDir(), "snap1")
	info := snapshot(t, src, snap1)
	if info.Memory != MemoryFile {
		t.Errorf("memory mode of a memory-file VM: got %q, want %q", info.Memory, MemoryFile)
	}
	t.Logf("snapshot files: %v", info.Files)
	if st, err := src.State(ctx); err != nil || st != hypervisor.StateRunning {
		t.Errorf("source after snapshot: %v, %v; want running", st, err)
	}
	tick = waitChange(t, ca, "/tmp/tick", tick)
	t.Logf("source keeps running, tick %s", tick)

	var clones []*VM
	var agents []*client.Client
	for _, id := range []string{"clone-a", "clone-b"} {
		ccfg := hypervisortest.Config(t, testGuest, id)
		ccfg.Net = hypervisor.Net{Mode: hypervisor.NetUser, MAC: "52:54:00:12:34:56"}
		vm := restore(t, d, ccfg, snap1)
		clones = append(clones, vm)
		agents = append(agents, agentOf(t, vm))
	}
	for i, c := range agents {
		if got, err := readGuest(t, c, "/tmp/hello"); err != nil || got != "from the source" {
			t.Errorf("clone %d /tmp/hello: %q, %v", i, got, err)
		}
		t0, _ := readGuest(t, c, "/tmp/tick")
		waitChange(t, c, "/tmp/tick", t0)
		res, err := c.Exec(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "head -c 7 /dev/vda"}}, nil)
		if err != nil || string(res.Stdout) != "on-disk" {
			t.Errorf("clone %d disk: %v %+v", i, err, res)
		}
	}
	writeGuest(t, agents[0], "/tmp/only-a", "a")
	if res, err := agents[0].Exec(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "echo clone-a | dd of=/dev/vda bs=512 conv=sync,fsync 2>&1"}}, nil); err != nil || res.ExitCode != 0 {
		t.Fatalf("writing the disk of clone a: %v %+v", err, res)
	}
	for name, c := range map[string]*client.Client{"source": ca, "clone b": agents[1]} {
		if _, err := readGuest(t, c, "/tmp/only-a"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%s sees clone a's file: %v", name, err)
		}
		res, err := c.Exec(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "head -c 7 /dev/vda"}}, nil)
		if err != nil || string(res.Stdout) != "on-disk" {
			t.Errorf("%s disk after clone a wrote its own: %v %q", name, err, res.Stdout)
		}
	}
	if res, err := agents[0].Exec(ctx, client.ExecRequest{Argv: []string{"cat", "/sys/class/net/eth0/address"}}, nil); err == nil {
		t.Logf("clone a's guest MAC after restore with 52:54:00:12:34:56: %s", strings.TrimSpace(string(res.Stdout)))
	}

	// A chain: snapshots of restored clones carry RAM in the stream.
	prev := clones[0]
	for depth := 2; depth <= 3; depth++ {
		dir := filepath.Join(t.TempDir(), "snap")
		info := snapshot(t, prev, dir)
		if info.Memory != MemoryStream {
			t.Errorf("depth %d memory mode: got %q, want %q", depth, info.Memory, MemoryStream)
		}
		ccfg := hypervisortest.Config(t, testGuest, "chain"+string(rune('0'+depth)))
		ccfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
		vm := restore(t, d, ccfg, dir)
		c := agentOf(t, vm)
		if got, err := readGuest(t, c, "/tmp/only-a"); err != nil || got != "a" {
			t.Errorf("depth %d /tmp/only-a: %q, %v", depth, got, err)
		}
		t0, _ := readGuest(t, c, "/tmp/tick")
		waitChange(t, c, "/tmp/tick", t0)
		res, err := c.Exec(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "head -c 7 /dev/vda"}}, nil)
		if err != nil || string(res.Stdout) != "clone-a" {
			t.Errorf("depth %d disk: %v %q", depth, err, res.Stdout)
		}
		prev = vm
	}

	// Kill leaves nothing in the VM directories.
	for _, vm := range append(clones, src.(*VM), prev) {
		pid, dir := vm.PID(), vm.Dir()
		if err := vm.Kill(); err != nil {
			t.Errorf("Kill %s: %v", vm.ID(), err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("Kill of %s (pid %d) left %s", vm.ID(), pid, dir)
		}
	}
}

// TestSnapshotPausedAndRefusals: a paused VM stays paused; a non-empty
// dir, a writable raw disk and a mismatched restore config are refused;
// restored VMs can be adopted (Attach) and do not write into the snapshot.
func TestSnapshotPausedAndRefusals(t *testing.T) {
	skipUnlessBootable(t)
	d := newTestDriver(t)
	ctx := context.Background()
	cfg := hypervisortest.Config(t, testGuest, "snap-paused")
	src := hypervisortest.Boot(t, d, cfg)
	agentOf(t, src)

	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "x"), nil, 0o600)
	if _, err := src.(*VM).Snapshot(ctx, busy); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("Snapshot into a non-empty dir: got %v, want ErrAlreadyExists", err)
	}

	if err := src.(*VM).Pause(ctx); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(t.TempDir(), "snap")
	info := snapshot(t, src, snap)
	if info.Memory != MemoryStream {
		t.Errorf("memory mode without a memory file: got %q, want stream", info.Memory)
	}
	if st, err := src.State(ctx); err != nil || st != hypervisor.StatePaused {
		t.Errorf("state after snapshot of a paused vm: %v, %v; want paused", st, err)
	}
	if err := src.(*VM).Resume(ctx); err != nil {
		t.Fatalf("Resume after snapshot: %v", err)
	}
	agentOf(t, src)

	before := dirState(t, snap)
	for name, mutate := range map[string]func(*hypervisor.Config){
		"vcpus":  func(c *hypervisor.Config) { c.VCPUs = 2 },
		"memory": func(c *hypervisor.Config) { c.MemoryMiB = 512 },
		"net":    func(c *hypervisor.Config) { c.Net.Mode = hypervisor.NetUser },
		"disks":  func(c *hypervisor.Config) { c.Disks = []hypervisor.Disk{{Path: "/x.qcow2", Format: "qcow2"}} },
	} {
		c := hypervisortest.Config(t, testGuest, "mismatch")
		mutate(&c)
		_, err := d.Restore(ctx, c, snap)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), name[:3]) {
			t.Errorf("Restore with other %s: got %v, want ErrInvalidArgument naming it", name, err)
		}
		if _, err := os.Stat(c.Dir); err == nil {
			t.Errorf("refused Restore left %s", c.Dir)
		}
	}

	// A restored VM is adopted after a "daemon restart" like a booted one.
	rcfg := hypervisortest.Config(t, testGuest, "restored")
	vm := restore(t, d, rcfg, snap)
	agentOf(t, vm)
	vm.Close()
	adopted, err := newTestDriver(t).Attach(ctx, rcfg.Dir)
	if err != nil {
		t.Fatalf("Attach to a restored vm: %v", err)
	}
	c := agentOf(t, adopted)
	writeGuest(t, c, "/tmp/after-attach", "x")
	snap2 := filepath.Join(t.TempDir(), "snap2")
	snapshot(t, adopted, snap2)
	if err := adopted.Kill(); err != nil {
		t.Error(err)
	}
	if diff := cmp.Diff(before, dirState(t, snap)); diff != "" {
		t.Errorf("restored vms changed the snapshot dir (-before +after):\n%s", diff)
	}

	// Writable raw disks cannot be frozen.
	rawCfg := hypervisortest.Config(t, testGuest, "snap-raw")
	raw := filepath.Join(t.TempDir(), "disk.raw")
	os.WriteFile(raw, make([]byte, 1<<20), 0o600)
	rawCfg.Disks = []hypervisor.Disk{{Path: raw, Format: "raw"}}
	rawVM := hypervisortest.Boot(t, d, rawCfg)
	rawSnap := filepath.Join(t.TempDir(), "raw")
	if _, err := rawVM.(*VM).Snapshot(ctx, rawSnap); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "raw") {
		t.Errorf("Snapshot with a writable raw disk: got %v, want ErrInvalidArgument", err)
	}
	if _, err := os.Stat(rawSnap); err == nil {
		t.Errorf("refused Snapshot left %s", rawSnap)
	}
}

// dirState maps each file of dir to its size and modification time.
func dirState(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fmt.Sprintf("%d %s", fi.Size(), fi.ModTime())
	}
	return m
}
