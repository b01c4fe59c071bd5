package sandbox

import (
	"context"
	"fmt"

	"github.com/volant-sh/volant/store"
)

// watch waits for a VM to exit. An exit nobody asked for fails the
// sandbox, publishes the reason and releases what it held.
func (m *Manager) watch(id string, in *instance) {
	select {
	case <-m.life.Done():
		return
	case <-in.expected:
		return
	case <-in.vm.Done():
	}
	select {
	case <-in.expected:
		return
	default:
	}
	unlock := m.locks.lock(id)
	defer unlock()
	m.mu.Lock()
	if m.vms[id] != in {
		m.mu.Unlock()
		return
	}
	delete(m.vms, id)
	m.mu.Unlock()

	ctx := m.life
	reason := fmt.Sprintf("the VMM (pid %d) exited unexpectedly; console: %s", in.vm.PID(), consoleTail(in.vm.ConsoleLogPath(), 512))
	m.log.Warn("sandbox failed", "sandbox", id, "reason", reason)
	in.agent.CloseIdle()
	m.saveConsole(id, in.vm.ConsoleLogPath())
	_ = in.vm.Kill() // removes sockets and pid file
	rec, err := m.cfg.Store.GetSandbox(ctx, id)
	if err != nil {
		return
	}
	m.fail(ctx, rec, reason)
}

// fail marks a sandbox failed with reason and releases its VM-time
// resources and address.
func (m *Manager) fail(ctx context.Context, rec store.Sandbox, reason string) {
	m.releaseRuntime(ctx, rec, false)
	if m.cfg.Addresses != nil {
		_, _ = m.cfg.Addresses.ReleaseOwner(ctx, rec.ID)
	}
	_, err := m.update(ctx, rec.ID, func(r *store.Sandbox) error {
		r.State = string(StateFailed)
		r.Reason = reason
		r.Tap, r.IP = "", ""
		return nil
	})
	if err != nil {
		m.log.Error("recording failure", "sandbox", rec.ID, "err", err)
		return
	}
	m.publish(ctx, eventOf(StateFailed), rec.ID, map[string]string{"reason": reason})
}
