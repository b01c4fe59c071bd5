package cloudhypervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/hypervisortest"
	"github.com/volant-sh/volant/kestrel/client"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeVMMEnv) == "1" {
		os.Exit(runFakeVMM(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// specPath is the Cloud Hypervisor API document, beside the repository
// (../shared/specs in CI and in worktrees). The contract tests fail, not
// skip, without it.
func specPath(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// hypervisor/cloudhypervisor -> the repository root -> ../shared
	p := filepath.Join(wd, "..", "..", "..", "shared", "specs", "cloud-hypervisor.yaml")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the Cloud Hypervisor API document is missing: %v; the contract tests read it from ../shared/specs/cloud-hypervisor.yaml beside the repository root", err)
	}
	return p
}

// fakeEnv makes drivers in this test start the fake VMM (this binary),
// which validates against the document and logs to the returned file.
func fakeEnv(t *testing.T) (opts Options, logPath string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(t.TempDir(), "requests.jsonl")
	t.Setenv(fakeVMMEnv, "1")
	t.Setenv(fakeSpecEnv, specPath(t))
	t.Setenv(fakeLogEnv, logPath)
	return Options{StateDir: t.TempDir(), Binary: exe, Logger: discardLogger()}, logPath
}

// readLog returns the requests the fake saw, failing the test for any the
// document does not allow or any answer it does not describe.
func readLog(t *testing.T, path string) []loggedRequest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("request log: %v", err)
	}
	defer f.Close()
	var out []loggedRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e loggedRequest
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("request log line %q: %v", sc.Text(), err)
		}
		if e.Invalid != "" {
			t.Errorf("%s %s breaks the API document: %s\nbody: %s", e.Method, e.Path, e.Invalid, e.Body)
		}
		if e.BadAns != "" {
			t.Errorf("the fake's answer %d to %s %s is not in the API document: %s", e.Status, e.Method, e.Path, e.BadAns)
		}
		out = append(out, e)
	}
	return out
}

// shortDir is a temporary directory with a short path (unix socket paths
// are limited to 108 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestContract drives the driver through a VM's life against the fake
// VMM: create, boot, agent over hybrid vsock, pause, resume, snapshot,
// adoption after a restart, resize, restore into a fresh VMM with a new
// tap, wrong-state errors, shutdown. Every request is validated against
// the API document by the fake.
func TestContract(t *testing.T) {
	opts, logPath := fakeEnv(t)
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Version(); got != fakeVersion {
		t.Errorf("Version: got %q, want %q", got, fakeVersion)
	}
	ctx := testContext(t)
	root := shortDir(t)
	kernel := filepath.Join(root, "vmlinux")
	os.WriteFile(kernel, []byte("kernel"), 0o600)
	data := hypervisor.Disk{Path: filepath.Join(root, "data.raw"), Format: "raw"}
	if err := d.CreateDisk(ctx, data, 8); err != nil {
		t.Fatalf("CreateDisk: %v", err)
	}
	os.WriteFile(data.Path, []byte("disk before the snapshot"), 0o600)
	cfg := hypervisor.Config{
		ID: "ct-src", Dir: filepath.Join(root, "src"), VCPUs: 2, MemoryMiB: 256,
		Kernel: kernel, Initramfs: kernel, Cmdline: "volant.hostname=ct",
		Disks: []hypervisor.Disk{data},
		Net:   hypervisor.Net{Mode: hypervisor.NetTap, Tap: "vttap0", MAC: hypervisor.StableMAC("ct-src")},
	}

	vm, err := d.Boot(ctx, cfg)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	t.Cleanup(func() { vm.Kill() })
	wantState(t, vm, hypervisor.StateRunning)
	agent := client.New(vm.DialAgent)
	t.Cleanup(agent.CloseIdle)
	if _, err := agent.WaitReady(ctx); err != nil {
		t.Fatalf("agent over hybrid vsock: %v", err)
	}
	if _, err := agent.WriteFile(ctx, filepath.Join(root, "through-vsock"), strings.NewReader("hi"), client.WriteOptions{}); err != nil {
		t.Errorf("WriteFile through the agent: %v", err)
	}

	p := vm.(hypervisor.Pauser)
	if err := p.Pause(ctx); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	wantState(t, vm, hypervisor.StatePaused)
	// A second pause breaks the state machine: the VMM's 405 is a conflict
	// that says why.
	if err := p.Pause(ctx); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "405") {
		t.Errorf("Pause of a paused VM: got %v, want a 405 conflict", err)
	}
	if err := p.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	// vm.snapshot of a running VM is refused by the VMM (405); the driver
	// pauses first.
	if err := vm.(*VM).api.snapshot(ctx, filepath.Join(root, "refused")); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("vm.snapshot of a running VM: got %v, want a 405 conflict", err)
	}

	snap := filepath.Join(root, "snap")
	info, err := vm.(hypervisor.Snapshotter).Snapshot(ctx, snap)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	wantState(t, vm, hypervisor.StateRunning)
	for _, f := range info.Files {
		if _, err := os.Stat(filepath.Join(snap, f)); err != nil {
			t.Errorf("snapshot file %s: %v", f, err)
		}
	}
	os.WriteFile(data.Path, []byte("disk after the snapshot"), 0o600)

	// The daemon restarts: a new driver adopts the VM from its directory.
	vm.Close()
	d2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	vm, err = d2.Attach(ctx, cfg.Dir)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	wantState(t, vm, hypervisor.StateRunning)
	if err := vm.(*VM).Resize(ctx, 0, 512); err != nil {
		t.Errorf("Resize: %v", err)
	}

	// Restore into a fresh VMM with its own tap.
	rcfg := cfg
	rcfg.ID, rcfg.Dir, rcfg.Disks = "ct-clone", filepath.Join(root, "clone"), nil
	rcfg.Net.Tap = "vttap1"
	clone, err := d2.Restore(ctx, rcfg, snap)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	t.Cleanup(func() { clone.Kill() })
	wantState(t, clone, hypervisor.StateRunning)
	rebound, err := os.ReadFile(filepath.Join(rcfg.Dir, restoreDir, snapConfig))
	if err != nil {
		t.Fatal(err)
	}
	var rvc vmConfig
	json.Unmarshal(rebound, &rvc)
	if len(rvc.Net) != 1 || rvc.Net[0].Tap != "vttap1" || rvc.Vsock.Socket != (paths{rcfg.Dir}).vsock() || rvc.Disks[0].Path == data.Path {
		t.Errorf("restored config does not re-bind tap, vsock and disk: %s", rebound)
	}
	if b, _ := os.ReadFile(rvc.Disks[0].Path); string(b) != "disk before the snapshot" {
		t.Errorf("restored disk: got %q, want the snapshot's content", b)
	}
	if got := clone.(hypervisor.DiskReporter).ActiveDisks(); len(got) != 1 || got[0].Path != rvc.Disks[0].Path {
		t.Errorf("ActiveDisks of the clone: got %v", got)
	}
	ca := client.New(clone.DialAgent)
	t.Cleanup(ca.CloseIdle)
	if _, err := ca.WaitReady(ctx); err != nil {
		t.Errorf("agent of the restored VM: %v", err)
	}
	// A restore into a VMM that has a VM already is refused (404).
	if err := clone.(*VM).api.restore(ctx, restoreConfig{SourceURL: "file://" + snap}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("vm.restore into a VMM with a VM: got %v, want a 404 conflict", err)
	}
	if b := waitConsole(t, clone, "fake guest"); !strings.Contains(b, "fake guest") {
		t.Errorf("console log of the clone: %q", b)
	}

	for _, v := range []hypervisor.VM{vm, clone} {
		pid := v.PID()
		if err := v.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown %s: %v", v.ID(), err)
		}
		select {
		case <-v.Done():
		default:
			t.Errorf("Done of %s not closed after Shutdown (pid %d)", v.ID(), pid)
		}
		if _, err := os.Stat(v.Dir()); err == nil {
			t.Errorf("Shutdown left %s", v.Dir())
		}
	}

	reqs := readLog(t, logPath)
	distinct := map[string]bool{}
	for _, r := range reqs {
		distinct[r.Method+" "+r.Path] = true
	}
	var names []string
	for k := range distinct {
		names = append(names, k)
	}
	sort.Strings(names)
	t.Logf("%d requests, %d distinct operations, all validated against the API document: %s", len(reqs), len(names), strings.Join(names, ", "))
	for _, want := range []string{"GET /api/v1/vmm.ping", "PUT /api/v1/vm.create", "PUT /api/v1/vm.boot", "GET /api/v1/vm.info",
		"PUT /api/v1/vm.pause", "PUT /api/v1/vm.resume", "PUT /api/v1/vm.snapshot", "PUT /api/v1/vm.restore",
		"PUT /api/v1/vm.resize", "PUT /api/v1/vm.power-button", "PUT /api/v1/vmm.shutdown"} {
		if !distinct[want] {
			t.Errorf("the driver never sent %s", want)
		}
	}
}

// TestContractBootErrors checks that a boot the VMM refuses leaves
// nothing behind and says why.
func TestContractBootErrors(t *testing.T) {
	opts, logPath := fakeEnv(t)
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	root := shortDir(t)
	cfg := hypervisor.Config{ID: "ct-bad", Dir: filepath.Join(root, "bad"), VCPUs: 1, MemoryMiB: 128, Kernel: "/nonexistent",
		Net: hypervisor.Net{Mode: hypervisor.NetUser}}
	if _, err := d.Boot(ctx, cfg); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "user-mode") {
		t.Errorf("Boot with user-mode net: got %v, want an invalid argument naming user-mode networking", err)
	}
	if _, err := os.Stat(cfg.Dir); err == nil {
		t.Errorf("failed Boot left %s", cfg.Dir)
	}
	if _, err := d.Attach(ctx, cfg.Dir); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Attach of nothing: got %v, want ErrNotFound", err)
	}
	// A VM created twice: the second vm.create is an error answer, which
	// the driver reports with the VMM's reason.
	cfg.Net = hypervisor.Net{Mode: hypervisor.NetNone}
	vm, err := d.Boot(ctx, cfg)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	defer vm.Kill()
	vc, _ := buildVMConfig(cfg)
	if err := vm.(*VM).api.create(ctx, vc); err == nil || !strings.Contains(err.Error(), "already created") {
		t.Errorf("second vm.create: got %v, want the VMM's reason", err)
	}
	if err := vm.Kill(); err != nil {
		t.Errorf("Kill: %v", err)
	}
	readLog(t, logPath)
}

// waitConsole waits until vm's console log holds want (the driver copies
// the serial socket in the background), or a generous deadline passes,
// and returns the log.
func waitConsole(t *testing.T, vm hypervisor.VM, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		b, _ := os.ReadFile(vm.ConsoleLogPath())
		if strings.Contains(string(b), want) || ctx.Err() != nil {
			return string(b)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func wantState(t *testing.T, vm hypervisor.VM, want hypervisor.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got, err := vm.State(ctx); err != nil || got != want {
		t.Errorf("State of %s: got %v, %v; want %v", vm.ID(), got, err, want)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestCapabilitiesWithoutKVM runs the suite's boot-free capability checks
// against the driver (the fake VMM stands in for cloud-hypervisor).
func TestCapabilitiesWithoutKVM(t *testing.T) {
	opts, logPath := fakeEnv(t)
	hypervisortest.CheckCapabilities(t, func(t *testing.T) hypervisor.Driver {
		d, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, hypervisortest.Guest{Kernel: "/nonexistent/vmlinux"})
	if _, err := os.Stat(logPath); err == nil {
		readLog(t, logPath)
	}
}

// TestContractShutdownOfADeafGuest: a guest that ignores the power button
// is shut down through the API (vm.shutdown, vmm.shutdown) once the
// caller's grace period ends.
func TestContractShutdownOfADeafGuest(t *testing.T) {
	opts, logPath := fakeEnv(t)
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	root := shortDir(t)
	cfg := hypervisor.Config{ID: "ct-deaf", Dir: filepath.Join(root, "deaf"), VCPUs: 1, MemoryMiB: 128, Kernel: "/k", Cmdline: "fake.deaf"}
	vm, err := d.Boot(testContext(t), cfg)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	grace, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := vm.Shutdown(grace); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	<-vm.Done()
	var ops []string
	for _, r := range readLog(t, logPath) {
		ops = append(ops, strings.TrimPrefix(r.Path, "/api/v1/"))
	}
	got := strings.Join(ops, " ")
	if !strings.Contains(got, "vm.power-button") || !strings.Contains(got, "vm.shutdown vmm.shutdown") {
		t.Errorf("requests: %s; want the power button, then vm.shutdown and vmm.shutdown", got)
	}
}
