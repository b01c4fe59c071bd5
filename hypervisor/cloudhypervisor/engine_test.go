package cloudhypervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/store"
)

// TestEngineOnCloudHypervisor runs the unchanged engine (sandbox.Manager)
// on this driver, with the fake VMM standing in for cloud-hypervisor and
// kestrel's real handlers for the guest: a cold boot with a raw data disk,
// exec, a fork (snapshot, then restore), stops that keep each disk and
// starts, and the refusal of user-mode networking. Every request the driver
// sends on the way is validated against the API document.
func TestEngineOnCloudHypervisor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the fake guest's agent runs commands as root on the host")
	}
	opts, logPath := fakeEnv(t)
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	dir := shortDir(t)
	st, err := store.Open(ctx, filepath.Join(dir, "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kernel := filepath.Join(dir, "vmlinux")
	os.WriteFile(kernel, []byte("kernel"), 0o600)
	m, err := sandbox.New(ctx, sandbox.Config{
		StateDir: dir, Store: st, Driver: d, MemoryDir: filepath.Join(dir, "mem"),
		Runtimes: []sandbox.Runtime{{Name: sandbox.DefaultRuntime, Kernel: kernel, Initramfs: kernel, ImageDigest: "sha256:fake"}},
		Budget:   sandbox.Capacity{VCPUs: 16, MemoryMiB: 8192},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	if _, err := m.Create(ctx, sandbox.Spec{Network: sandbox.NetworkUser}); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "cloud-hypervisor") {
		t.Errorf("create with network user: got %v, want an invalid argument naming the driver", err)
	}
	sb, err := m.Create(ctx, sandbox.Spec{DiskMiB: 8})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if sb.Spec.Network != sandbox.NetworkNone {
		t.Errorf("default network: got %q, want none (no bridge, no user-mode stack)", sb.Spec.Network)
	}
	if _, err := os.Stat(filepath.Join(dir, "disks", sb.ID, "data.raw")); err != nil {
		t.Errorf("raw data disk: %v", err)
	}
	res, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"echo", "on ch"}}, nil)
	if err != nil || strings.TrimSpace(res.Stdout) != "on ch" {
		t.Fatalf("Exec: got %+v, %v", res, err)
	}
	forks, err := m.Fork(ctx, sb.ID, sandbox.ForkRequest{Count: 1})
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	fork := forks[0]
	if fork.Boot != "restore" {
		t.Errorf("fork boot: got %q, want restore", fork.Boot)
	}
	if _, err := m.Exec(ctx, fork.ID, sandbox.ExecRequest{Cmd: []string{"true"}}, nil); err != nil {
		t.Errorf("Exec in the fork: %v", err)
	}
	// Stop and start both: each keeps a disk of its own.
	for _, id := range []string{fork.ID, sb.ID} {
		if _, err := m.Stop(ctx, id); err != nil {
			t.Errorf("Stop %s: %v", id, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "disks", id, "data.raw")); err != nil {
			t.Errorf("the disk of %s was not kept as its own at stop: %v", id, err)
		}
		if _, err := m.Start(ctx, id); err != nil {
			t.Errorf("Start %s: %v", id, err)
		}
	}
	for _, id := range []string{fork.ID, sb.ID} {
		if err := m.Delete(ctx, id); err != nil {
			t.Errorf("Delete %s: %v", id, err)
		}
	}
	reqs := readLog(t, logPath)
	t.Logf("%d requests to the VMM, all validated against the API document", len(reqs))
}
