package sandbox

import (
	"fmt"

	"github.com/volant-sh/volant/errdefs"
)

// Admission by real cost. CPU is admitted by configured vCPUs against the
// host's CPUs times an overcommit (idle agent guests use a few percent of a
// core each). Memory is admitted twice: by what sandboxes really use (the
// measured PSS of each live VMM, where template clones share their
// untouched pages, plus the configured size of every create still in
// flight) against the host's memory minus the operator's headroom; and by
// configured size against Budget.MemoryMiB, a bound on what the guests
// could grow to if they all woke up at once.

// HostSize is the host as admission sees it.
type HostSize struct {
	// CPUs and MemoryMiB are the host's CPUs and memory.
	CPUs      int `json:"cpus"`
	MemoryMiB int `json:"memory_mib"`
	// HeadroomMiB is the memory the operator keeps for the host: measured
	// use may reach MemoryMiB - HeadroomMiB.
	HeadroomMiB int `json:"headroom_mib"`
}

// MeasuredUsage is what sandboxes really use, as admission counts it.
type MeasuredUsage struct {
	// LimitMiB is the host's memory minus the headroom; 0 when the host
	// size is not known (then only the configured budget admits).
	LimitMiB int `json:"limit_mib"`
	// PSSMiB is the summed proportional set size of the live VMMs, of
	// which there are VMs.
	PSSMiB int `json:"pss_mib"`
	VMs    int `json:"vms"`
	// InFlightMiB is the configured memory of the creates (and starts)
	// under way, InFlight of them, whose VMM is not measured yet.
	InFlightMiB int `json:"in_flight_mib"`
	InFlight    int `json:"in_flight"`
}

// UsedMiB is what admission counts as used: measured plus in flight.
func (u MeasuredUsage) UsedMiB() int { return u.PSSMiB + u.InFlightMiB }

// admit reserves spec's size for id against the budget, or refuses with a
// resource-exhausted error that says what is used and what to do.
func (m *Manager) admit(id string, spec Spec) error {
	pss := m.measurePSS()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.admitLocked(spec, pss); err != nil {
		return err
	}
	m.reserved[id] = Capacity{VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB}
	return nil
}

// admitLocked checks spec against the configured budget and the measured
// memory; m.mu is held.
func (m *Manager) admitLocked(spec Spec, pss map[string]int64) error {
	used := m.usageLocked()
	b, h := m.cfg.Budget, m.cfg.Host
	if b.VCPUs > 0 && used.VCPUs+spec.VCPUs > b.VCPUs {
		return errdefs.WithRemedy(errdefs.Exhausted("not enough CPU: %d of %d vCPUs%s are given to sandboxes and this one asks for %d; delete or stop an idle sandbox, ask for fewer vcpus, or have the operator raise cpu_overcommit",
			used.VCPUs, b.VCPUs, cpuBudgetNote(h, b), spec.VCPUs), errdefs.OpSandboxList)
	}
	if mu := m.measuredLocked(pss); mu.LimitMiB > 0 && mu.UsedMiB()+spec.MemoryMiB > mu.LimitMiB {
		return errdefs.WithRemedy(errdefs.Exhausted("not enough memory: sandboxes use %d MiB (measured PSS of %d VMs %d MiB, %d starting %d MiB) of the %d MiB the host allows (%d MiB minus %d MiB headroom) and this one asks for %d; delete or stop an idle sandbox, ask for less memory_mib, or have the operator lower reserved_memory_mib",
			mu.UsedMiB(), mu.VMs, mu.PSSMiB, mu.InFlight, mu.InFlightMiB, mu.LimitMiB, h.MemoryMiB, h.HeadroomMiB, spec.MemoryMiB), errdefs.OpSandboxList)
	}
	if b.MemoryMiB > 0 && used.MemoryMiB+spec.MemoryMiB > b.MemoryMiB {
		return errdefs.WithRemedy(errdefs.Exhausted("not enough memory: %d of %d MiB of configured guest memory are given to sandboxes and this one asks for %d; delete or stop a sandbox, ask for less memory_mib, or have the operator raise memory_overcommit",
			used.MemoryMiB, b.MemoryMiB, spec.MemoryMiB), errdefs.OpSandboxList)
	}
	return nil
}

// admitCheck reports whether n sandboxes of spec's size would be admitted
// now, reserving nothing: a fork checks its fan-out with it up front (each
// clone is still admitted by its own create).
func (m *Manager) admitCheck(spec Spec, n int) error {
	pss := m.measurePSS()
	m.mu.Lock()
	defer m.mu.Unlock()
	all := spec
	all.VCPUs, all.MemoryMiB = spec.VCPUs*n, spec.MemoryMiB*n
	if err := m.admitLocked(all, pss); err != nil {
		if n == 1 {
			return err
		}
		return fmt.Errorf("%d clones of %d vCPUs and %d MiB each: %w", n, spec.VCPUs, spec.MemoryMiB, err)
	}
	return nil
}

// cpuBudgetNote explains the vCPU budget when the host's size is known.
func cpuBudgetNote(h HostSize, b Capacity) string {
	if h.CPUs <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%d host CPUs × overcommit %g)", h.CPUs, float64(b.VCPUs)/float64(h.CPUs))
}

// unadmit returns id's reservation to the budget.
func (m *Manager) unadmit(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.reserved, id)
	m.roomFreedLocked() // background.go: a refused template or warm guest may fit now
}

// usageLocked sums the configured size of every reservation.
func (m *Manager) usageLocked() Capacity {
	var c Capacity
	for _, r := range m.reserved {
		c.VCPUs += r.VCPUs
		c.MemoryMiB += r.MemoryMiB
	}
	return c
}

// measurePSS measures the PSS (KiB) of every live VMM, by sandbox id. It
// reads /proc without m.mu held.
func (m *Manager) measurePSS() map[string]int64 {
	m.mu.Lock()
	pids := make(map[string]int, len(m.vms))
	list := make([]int, 0, len(m.vms))
	for id, in := range m.vms {
		if pid := in.vm.PID(); pid > 0 {
			pids[id] = pid
			list = append(list, pid)
		}
	}
	m.mu.Unlock()
	kib := m.pss.measure(list)
	out := make(map[string]int64, len(pids))
	for id, pid := range pids {
		if v, ok := kib[pid]; ok {
			out[id] = v
		}
	}
	return out
}

// measuredLocked counts each reservation by its VMM's measured PSS, or by
// its configured memory while it has no measured VMM (a create in flight);
// m.mu is held.
func (m *Manager) measuredLocked(pss map[string]int64) MeasuredUsage {
	var u MeasuredUsage
	if h := m.cfg.Host; h.MemoryMiB > 0 {
		u.LimitMiB = max(h.MemoryMiB-h.HeadroomMiB, 0)
	}
	var kib int64
	for id, r := range m.reserved {
		if v, ok := pss[id]; ok {
			kib += v
			u.VMs++
			continue
		}
		u.InFlightMiB += r.MemoryMiB
		u.InFlight++
	}
	u.PSSMiB = int((kib + 1023) / 1024)
	return u
}

// Measured returns what sandboxes really use, for System and metrics.
func (m *Manager) Measured() MeasuredUsage {
	pss := m.measurePSS()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.measuredLocked(pss)
}
