package sandbox

import (
	"context"

	"github.com/volant-sh/volant/store"
)

// System describes the engine, its accelerator and its capacity.
func (m *Manager) System(ctx context.Context) (*SystemInfo, error) {
	caps := m.cfg.Driver.Capabilities()
	m.mu.Lock()
	usage := m.usageLocked()
	live := len(m.vms)
	m.mu.Unlock()
	info := &SystemInfo{
		Version:     m.cfg.Version,
		Driver:      m.cfg.Driver.Name(),
		Drivers:     []string{m.cfg.Driver.Name()},
		Accel:       caps.Accel,
		AccelReason: caps.AccelReason,
		Capacity:    m.cfg.Budget,
		Usage:       usage,
		Sandboxes:   live,
		Templates:   m.templateUsage(),
		Host:        m.cfg.Host,
		Measured:    m.Measured(),
	}
	info.DriverReason = m.cfg.DriverReason
	if rt, ok := m.runtimes[DefaultRuntime]; ok {
		info.Image = rt.ImageDigest
	}
	return info, nil
}

// CountByState counts sandboxes per state, for metrics.
func (m *Manager) CountByState(ctx context.Context) (map[State]int, error) {
	out := map[State]int{}
	cursor := ""
	for {
		page, next, err := m.cfg.Store.ListSandboxes(ctx, store.SandboxFilter{Limit: 1000, After: cursor})
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			out[State(r.State)]++
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}
