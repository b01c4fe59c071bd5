package sandbox

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/store"
)

func eventOf(s State) string {
	switch s {
	case StateRunning:
		return events.SandboxRunning
	case StatePaused:
		return events.SandboxPaused
	case StateStopped:
		return events.SandboxStopped
	case StateFailed:
		return events.SandboxFailed
	case StateHibernated:
		return events.SandboxHibernated
	}
	return ""
}

// Stop powers a sandbox off, keeping its record and address. The guest is
// asked to power off cleanly; after a grace period the VMM is killed.
func (m *Manager) Stop(ctx context.Context, idOrName string) (*Sandbox, error) {
	rec, unlock, err := m.lockRecord(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if State(rec.State) == StateHibernated {
		spec := specOf(rec)
		if spec.Spec.DiskMiB == 0 && spec.Image == nil {
			// Nothing on disk to keep: the snapshot is simply dropped.
			m.dropHibernation(rec.ID)
			if _, err := m.setState(ctx, rec.ID, StateStopped, ""); err != nil {
				return nil, err
			}
			return m.Get(ctx, rec.ID)
		}
		// Its disks live in the snapshot: wake it so that they are kept
		// as a stop keeps them.
		if err := m.wakeLocked(ctx, rec); err != nil {
			return nil, err
		}
		if rec, err = m.cfg.Store.GetSandbox(ctx, rec.ID); err != nil {
			return nil, err
		}
	}
	switch State(rec.State) {
	case StateStopped:
		return fromRecord(rec), nil
	case StateRunning, StatePaused:
	default:
		return nil, errdefs.Conflict("sandbox %s is %s; only a running or paused sandbox can be stopped", rec.ID, rec.State)
	}
	m.endWorkload(ctx, rec) // stopworkload.go: it writes its state out first
	graceful := true
	if in, ok := m.instance(rec.ID); ok && specOf(rec).Spec.DiskMiB > 0 {
		copied, err := m.keepDisk(ctx, rec.ID, in)
		if err != nil {
			if p, ok := in.vm.(hypervisor.Pauser); ok {
				_ = p.Resume(context.WithoutCancel(ctx))
			}
			return nil, fmt.Errorf("stopping %s: %w; it keeps running", rec.ID, err)
		}
		// The disk is saved and the VM paused: nothing is left to flush.
		graceful = !copied
	}
	if in, ok := m.instance(rec.ID); ok && specOf(rec).Image != nil {
		// images.go: the root's copy-on-write layer is kept the same way.
		copied, err := m.keepRootDisk(ctx, rec.ID, in, !graceful)
		if err != nil {
			if p, ok := in.vm.(hypervisor.Pauser); ok {
				_ = p.Resume(context.WithoutCancel(ctx))
			}
			return nil, fmt.Errorf("stopping %s: %w; it keeps running", rec.ID, err)
		}
		graceful = graceful && !copied
	}
	m.shutdownVM(ctx, rec, graceful)
	m.releaseRuntime(ctx, rec, false)
	m.releaseHibernation(ctx, rec) // a woken guest's disks were copied out above
	if _, err := m.setState(ctx, rec.ID, StateStopped, ""); err != nil {
		return nil, err
	}
	return m.Get(ctx, rec.ID)
}

// Start boots a stopped sandbox again (a cold boot: memory is not kept
// across a stop).
func (m *Manager) Start(ctx context.Context, idOrName string) (*Sandbox, error) {
	rec, unlock, err := m.lockRecord(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	defer unlock()
	switch State(rec.State) {
	case StateRunning:
		return fromRecord(rec), nil
	case StateStopped:
	default:
		return nil, errdefs.Conflict("sandbox %s is %s; only a stopped sandbox can be started", rec.ID, rec.State)
	}
	spec := specOf(rec).Spec
	spec.image = imageOfRecord(rec) // images.go
	rt, err := m.runtime(ctx, spec.Runtime)
	if err != nil {
		return nil, fmt.Errorf("the runtime of sandbox %s: %w", rec.ID, err)
	}
	if err := m.admit(rec.ID, spec); err != nil {
		return nil, err
	}
	m.makeRoom() // background.go: warm guests give way
	if err := m.boot(ctx, rec.ID, spec, rt, nil, nil); err != nil {
		m.unadmit(rec.ID)
		_, _ = m.update(context.WithoutCancel(ctx), rec.ID, func(r *store.Sandbox) error {
			r.Reason = "start failed: " + err.Error()
			return nil
		})
		return nil, err
	}
	return m.Get(ctx, rec.ID)
}

// Pause freezes a running sandbox's vCPUs.
func (m *Manager) Pause(ctx context.Context, idOrName string) (*Sandbox, error) {
	return m.pauseResume(ctx, idOrName, true)
}

// Resume continues a paused sandbox.
func (m *Manager) Resume(ctx context.Context, idOrName string) (*Sandbox, error) {
	return m.pauseResume(ctx, idOrName, false)
}

func (m *Manager) pauseResume(ctx context.Context, idOrName string, pause bool) (*Sandbox, error) {
	rec, unlock, err := m.lockRecord(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !pause && State(rec.State) == StateHibernated {
		if err := m.wakeLocked(ctx, rec); err != nil {
			return nil, err
		}
		return m.Get(ctx, rec.ID)
	}
	from, to := StateRunning, StatePaused
	if !pause {
		from, to = StatePaused, StateRunning
	}
	if State(rec.State) == to {
		return fromRecord(rec), nil
	}
	if State(rec.State) != from {
		return nil, errdefs.Conflict("sandbox %s is %s; only a %s sandbox can become %s", rec.ID, rec.State, from, to)
	}
	in, ok := m.instance(rec.ID)
	if !ok {
		return nil, errdefs.Unavailable("sandbox %s has no running VM", rec.ID)
	}
	p, ok := in.vm.(hypervisor.Pauser)
	if !ok {
		return nil, errdefs.Unavailable("the %s driver cannot pause VMs", m.cfg.Driver.Name())
	}
	if pause {
		err = p.Pause(ctx)
	} else {
		err = p.Resume(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", map[bool]string{true: "pausing", false: "resuming"}[pause], rec.ID, err)
	}
	if _, err := m.setState(ctx, rec.ID, to, ""); err != nil {
		return nil, err
	}
	return m.Get(ctx, rec.ID)
}

// Delete stops a sandbox if needed and removes it with everything it held.
func (m *Manager) Delete(ctx context.Context, idOrName string) error {
	rec, unlock, err := m.lockRecord(ctx, idOrName)
	if err != nil {
		return err
	}
	defer unlock()
	return m.deleteLocked(ctx, rec)
}

// deleteLocked removes a sandbox whose lock the caller holds.
func (m *Manager) deleteLocked(ctx context.Context, rec store.Sandbox) error {
	ctx = context.WithoutCancel(ctx)
	if rec.State != string(StateDeleting) {
		if _, err := m.setState(ctx, rec.ID, StateDeleting, ""); err != nil {
			return err
		}
	}
	m.shutdownVM(ctx, rec, false)
	m.releaseRuntime(ctx, rec, true)
	m.releaseHibernation(ctx, rec) // hibernate.go
	if err := m.cfg.Store.DeleteSandbox(ctx, rec.ID); err != nil {
		return fmt.Errorf("deleting record of %s: %w", rec.ID, err)
	}
	m.publish(ctx, events.SandboxDeleted, rec.ID, nil)
	return nil
}

// shutdownVM stops a sandbox's VM: gracefully through the agent and the
// VMM when graceful, else at once. It is a no-op without a live VM.
func (m *Manager) shutdownVM(ctx context.Context, rec store.Sandbox, graceful bool) {
	id := rec.ID
	m.mu.Lock()
	in, ok := m.vms[id]
	delete(m.vms, id)
	m.mu.Unlock()
	if !ok {
		// No adopted VM, but a VMM may still run from a crashed create.
		if vm, err := m.cfg.Driver.Attach(ctx, m.dirOf(rec)); err == nil {
			_ = vm.Kill()
		}
		return
	}
	in.expect()
	m.saveConsole(id, in.vm.ConsoleLogPath())
	if graceful {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = in.agent.Poweroff(pctx)
		cancel()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := in.vm.Shutdown(sctx); err != nil {
			m.log.Warn("graceful shutdown failed; killed", "sandbox", id, "err", err)
		}
		cancel()
	} else if err := in.vm.Kill(); err != nil {
		m.log.Warn("killing vm", "sandbox", id, "err", err)
	}
	in.agent.CloseIdle()
	_ = in.vm.Close()
}

// releaseRuntime gives back what a sandbox holds while it has a VM: its
// reservation, tap and runtime directory (keeping the console log), and,
// when all is true, its address lease and saved logs.
func (m *Manager) releaseRuntime(ctx context.Context, rec store.Sandbox, all bool) {
	m.unadmit(rec.ID)
	m.detachEgress(rec, all)
	if rec.Tap != "" && m.cfg.Network != nil {
		if err := m.cfg.Network.DeleteTap(ctx, rec.Tap); err != nil {
			m.log.Warn("deleting tap", "sandbox", rec.ID, "tap", rec.Tap, "err", err)
		}
	}
	if err := os.RemoveAll(m.dirOf(rec)); err != nil {
		m.log.Warn("removing vm dir", "sandbox", rec.ID, "err", err)
	}
	if err := os.Remove(m.memFile(rec.ID)); err != nil && !os.IsNotExist(err) {
		m.log.Warn("removing memory file", "sandbox", rec.ID, "err", err)
	}
	if all {
		if m.cfg.Addresses != nil {
			if _, err := m.cfg.Addresses.ReleaseOwner(ctx, rec.ID); err != nil {
				m.log.Warn("releasing lease", "sandbox", rec.ID, "err", err)
			}
		}
		_ = os.RemoveAll(m.consoleSavePath(rec.ID))
		m.removeDisk(rec.ID)
	}
}

// lockRecord takes a sandbox's lifecycle lock and reads its record under
// it (the record may have changed while the lock was awaited).
func (m *Manager) lockRecord(ctx context.Context, idOrName string) (store.Sandbox, func(), error) {
	rec, err := m.record(ctx, idOrName)
	if err != nil {
		return rec, nil, err
	}
	unlock := m.locks.lock(rec.ID)
	rec, err = m.cfg.Store.GetSandbox(ctx, rec.ID)
	if err != nil {
		unlock()
		return rec, nil, errdefs.NotFound("sandbox %q not found; it was deleted meanwhile", idOrName)
	}
	return rec, unlock, nil
}
