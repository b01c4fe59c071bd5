package sandbox

import (
	"context"
	"time"

	"github.com/volant-sh/volant/store"
)

// reapEvery is how often TTLs and idle timeouts are checked.
const reapEvery = time.Second

// startReaper runs the TTL and idle-timeout reaper until Close.
func (m *Manager) startReaper() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(reapEvery)
		defer t.Stop()
		for {
			select {
			case <-m.life.Done():
				return
			case <-t.C:
				m.reap(m.life)
			}
		}
	}()
}

// reap deletes expired sandboxes and hibernates idle ones (or stops them
// when the driver cannot snapshot and restore).
func (m *Manager) reap(ctx context.Context) {
	now := time.Now()
	cursor := ""
	for {
		page, next, err := m.cfg.Store.ListSandboxes(ctx, store.SandboxFilter{
			States: []string{string(StateRunning), string(StatePaused), string(StateStopped), string(StateFailed), string(StateHibernated)},
			Limit:  500, After: cursor,
		})
		if err != nil {
			return
		}
		for _, rec := range page {
			switch {
			case !rec.ExpiresAt.IsZero() && now.After(rec.ExpiresAt):
				m.log.Info("ttl expired; deleting", "sandbox", rec.ID)
				if err := m.Delete(ctx, rec.ID); err != nil {
					m.log.Warn("deleting expired sandbox", "sandbox", rec.ID, "err", err)
				}
			case rec.State == string(StateRunning) && idle(rec, now) && m.canHibernate():
				// Hibernate keeps memory and processes and wakes on the
				// next request; a stop would lose them (hibernate.go).
				m.log.Info("idle timeout; hibernating", "sandbox", rec.ID)
				if _, err := m.Hibernate(ctx, rec.ID); err != nil {
					m.log.Warn("hibernating idle sandbox", "sandbox", rec.ID, "err", err)
				}
			case rec.State == string(StateRunning) && idle(rec, now):
				m.log.Info("idle timeout; stopping", "sandbox", rec.ID)
				if _, err := m.Stop(ctx, rec.ID); err != nil {
					m.log.Warn("stopping idle sandbox", "sandbox", rec.ID, "err", err)
				}
			}
		}
		if next == "" {
			return
		}
		cursor = next
	}
}

func idle(rec store.Sandbox, now time.Time) bool {
	t := specOf(rec).Spec.IdleTimeoutSeconds
	// Validate bounds t; a record from before that bound is never idle
	// rather than overflowing.
	return t > 0 && t <= MaxDurationSeconds && now.Sub(rec.LastActiveAt) > seconds(t)
}
