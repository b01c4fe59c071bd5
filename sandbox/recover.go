package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/store"
)

// recover reconciles the database with what runs, after a daemon restart
// or crash: live VMs are adopted, dead ones failed with a reason, and
// leaked taps, leases, VMMs and directories are released.
func (m *Manager) recover(ctx context.Context) error {
	var all []store.Sandbox
	cursor := ""
	for {
		page, next, err := m.cfg.Store.ListSandboxes(ctx, store.SandboxFilter{Limit: 500, After: cursor})
		if err != nil {
			return err
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	keep := map[string]bool{} // sandboxes that still own their resources
	for _, rec := range all {
		switch State(rec.State) {
		case StateRunning, StatePaused, StateCreating:
			if m.adoptExisting(ctx, rec) {
				keep[rec.ID] = true
			}
		case StateDeleting:
			if err := m.deleteLocked(ctx, rec); err != nil {
				m.log.Warn("finishing an interrupted delete", "sandbox", rec.ID, "err", err)
			}
		case StateStopped, StateHibernated:
			keep[rec.ID] = true // keeps its lease (and snapshot), holds no VM
			m.shutdownVM(ctx, rec, false)
			m.releaseRuntime(ctx, rec, false)
		case StateFailed:
			m.shutdownVM(ctx, rec, false)
			m.releaseRuntime(ctx, rec, false)
		}
	}
	m.sweep(ctx, keep)
	m.sweepSnapshots(ctx)         // sweep_snapshots.go
	m.sweepHibernations(ctx, all) // hibernate.go
	return nil
}

// adoptExisting finds a sandbox's VM again. It reports whether the sandbox
// is alive and adopted; otherwise the sandbox is failed with a reason.
func (m *Manager) adoptExisting(ctx context.Context, rec store.Sandbox) bool {
	vm, err := m.cfg.Driver.Attach(ctx, m.dirOf(rec))
	if err != nil {
		reason := "its VMM was not running when the daemon started"
		if !errors.Is(err, errdefs.ErrNotFound) {
			reason = "its VMM could not be reached when the daemon started: " + err.Error()
		}
		m.log.Warn("sandbox lost", "sandbox", rec.ID, "reason", reason)
		m.fail(ctx, rec, reason)
		return false
	}
	agent := client.New(vm.DialAgent)
	st, err := vm.State(ctx)
	if err == nil && st == hypervisor.StatePaused && (State(rec.State) == StateCreating || State(rec.State) == StateRunning) {
		// The daemon died between starting the VMM (paused, so no console
		// output is lost) and letting it run: finish the boot. Or it died
		// in a snapshot or fork of a running sandbox, which pauses the VM
		// for the copy: the sandbox was never asked to pause, so resume it.
		if p, ok := vm.(hypervisor.Pauser); ok {
			err = p.Resume(ctx)
			st = hypervisor.StateRunning
		}
	}
	if err == nil && st != hypervisor.StatePaused {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = agent.WaitReady(actx)
		cancel()
	}
	if err != nil {
		_ = vm.Kill()
		m.fail(ctx, rec, "its guest agent did not answer when the daemon started: "+err.Error())
		return false
	}
	spec := specOf(rec).Spec
	m.mu.Lock()
	m.reserved[rec.ID] = Capacity{VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB}
	m.mu.Unlock()
	m.attachEgress(rec)
	m.adopt(rec.ID, vm, agent)
	want := StateRunning
	if st == hypervisor.StatePaused {
		want = StatePaused
	}
	if State(rec.State) != want {
		if _, err := m.setState(ctx, rec.ID, want, ""); err != nil {
			m.log.Warn("recording adopted state", "sandbox", rec.ID, "err", err)
		}
	}
	m.log.Info("adopted running sandbox", "sandbox", rec.ID, "pid", vm.PID())
	return true
}

// sweep releases what no kept sandbox owns: taps, leases, VM directories
// (killing any VMM still running in them).
func (m *Manager) sweep(ctx context.Context, keep map[string]bool) {
	owned := map[string]bool{}
	keptDirs := map[string]bool{}
	for id := range keep {
		if rec, err := m.cfg.Store.GetSandbox(ctx, id); err == nil {
			if rec.Tap != "" {
				owned[rec.Tap] = true
			}
			keptDirs[filepath.Base(m.dirOf(rec))] = true
		}
	}
	if m.cfg.Network != nil {
		taps, err := m.cfg.Network.ListTaps(ctx)
		if err != nil {
			m.log.Warn("listing taps", "err", err)
		}
		for _, t := range taps {
			if !owned[t] {
				m.log.Info("removing leaked tap", "tap", t)
				_ = m.cfg.Network.DeleteTap(ctx, t)
			}
		}
	}
	if m.cfg.Addresses != nil {
		for _, l := range m.cfg.Addresses.Leases() {
			if !keep[l.Owner] {
				m.log.Info("releasing leaked lease", "sandbox", l.Owner, "ip", l.Addr)
				_, _ = m.cfg.Addresses.ReleaseOwner(ctx, l.Owner)
			}
		}
	}
	mems, _ := os.ReadDir(m.cfg.MemoryDir)
	for _, e := range mems {
		if id := strings.TrimSuffix(e.Name(), ".mem"); !keep[id] {
			_ = os.Remove(filepath.Join(m.cfg.MemoryDir, e.Name()))
		}
	}
	entries, _ := os.ReadDir(filepath.Join(m.cfg.StateDir, "vms"))
	for _, e := range entries {
		if keptDirs[e.Name()] {
			continue
		}
		dir := filepath.Join(m.cfg.StateDir, "vms", e.Name())
		if vm, err := m.cfg.Driver.Attach(ctx, dir); err == nil {
			m.log.Info("killing leaked VMM", "dir", dir, "pid", vm.PID())
			_ = vm.Kill()
		}
		_ = os.RemoveAll(dir)
	}
}
