package sandbox

import "github.com/volant-sh/volant/errdefs"

// admit reserves spec's size for id against the budget, or refuses with a
// resource-exhausted error that says what is left.
func (m *Manager) admit(id string, spec Spec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	used := m.usageLocked()
	b := m.cfg.Budget
	if b.VCPUs > 0 && used.VCPUs+spec.VCPUs > b.VCPUs {
		return errdefs.Exhausted("not enough CPU: %d of %d vCPUs are in use and the sandbox asks for %d; delete or stop a sandbox, or ask for fewer vcpus",
			used.VCPUs, b.VCPUs, spec.VCPUs)
	}
	if b.MemoryMiB > 0 && used.MemoryMiB+spec.MemoryMiB > b.MemoryMiB {
		return errdefs.Exhausted("not enough memory: %d of %d MiB are in use and the sandbox asks for %d; delete or stop a sandbox, or ask for less memory_mib",
			used.MemoryMiB, b.MemoryMiB, spec.MemoryMiB)
	}
	m.reserved[id] = Capacity{VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB}
	return nil
}

// unadmit returns id's reservation to the budget.
func (m *Manager) unadmit(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.reserved, id)
	m.roomFreedLocked() // background.go: a refused template or warm guest may fit now
}

func (m *Manager) usageLocked() Capacity {
	var c Capacity
	for _, r := range m.reserved {
		c.VCPUs += r.VCPUs
		c.MemoryMiB += r.MemoryMiB
	}
	return c
}
