package sandbox

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Background VMs: template builders and warm-pool guests are not
// sandboxes, but they hold vCPUs and memory like one. They are admitted
// against the same budget, only into what the sandboxes leave free: one
// that does not fit is skipped, and a sandbox that needs the room takes
// it (warm guests are thrown away for it), so a background VM never makes
// a create fail. Template snapshots are capped in count and disk; the
// least recently used one goes first.

// Default template caps (TemplateLimits' zero values).
const (
	DefaultMaxTemplates    = 8
	DefaultTemplateDiskMiB = 2048
)

// TemplateLimits caps the template snapshots kept on disk.
type TemplateLimits struct {
	// MaxTemplates is the number of template snapshots kept (one per
	// runtime, image and size); 0 is DefaultMaxTemplates.
	MaxTemplates int
	// DiskMiB is the disk all template snapshots may take together; 0 is
	// DefaultTemplateDiskMiB.
	DiskMiB int64
}

func (l TemplateLimits) withDefaults() TemplateLimits {
	if l.MaxTemplates <= 0 {
		l.MaxTemplates = DefaultMaxTemplates
	}
	if l.DiskMiB <= 0 {
		l.DiskMiB = DefaultTemplateDiskMiB
	}
	return l
}

// bgKind says what a background VM is for.
type bgKind int

const (
	bgTemplate bgKind = iota // a template builder
	bgWarm                   // a warm-pool guest
)

// bgReservation is the capacity held by one background VM.
type bgReservation struct {
	kind bgKind
	cap  Capacity
}

// background is the Manager's bookkeeping of background VMs and
// templates. res is guarded by Manager.mu, used by Manager.tplMu.
type background struct {
	res  map[string]bgReservation
	used map[string]time.Time // last use of each template key
	// freed counts the times room was freed (a sandbox or background VM
	// gave its reservation back) and room is closed (and dropped) then,
	// so WaitWarm retries what was refused for lack of room. Under mu.
	freed uint64
	room  chan struct{}
}

// noRoomError is a background VM refused for lack of room; freed is the
// count of frees it was refused at.
type noRoomError struct {
	freed uint64
	err   error
}

func (e *noRoomError) Error() string { return e.err.Error() }
func (e *noRoomError) Unwrap() error { return e.err }

// roomFreedLocked wakes those waiting for room. mu must be held.
func (m *Manager) roomFreedLocked() {
	m.bg.freed++
	if m.bg.room != nil {
		close(m.bg.room)
		m.bg.room = nil
	}
}

// roomWait returns the count of frees so far and a channel closed at the
// next one.
func (m *Manager) roomWait() (uint64, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bg.room == nil {
		m.bg.room = make(chan struct{})
	}
	return m.bg.freed, m.bg.room
}

// admitBackground reserves spec's size for the background VM id if it fits
// in what sandboxes and other background VMs leave of the budget; it
// refuses (and reserves nothing) otherwise.
func (m *Manager) admitBackground(id string, kind bgKind, spec Spec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	used := m.usageLocked()
	tpl, warm := m.backgroundUsageLocked()
	used.VCPUs += tpl.VCPUs + warm.VCPUs
	used.MemoryMiB += tpl.MemoryMiB + warm.MemoryMiB
	b := m.cfg.Budget
	if b.VCPUs > 0 && used.VCPUs+spec.VCPUs > b.VCPUs {
		return &noRoomError{m.bg.freed, errdefs.Exhausted("no room for a background guest: %d of %d vCPUs are in use and it needs %d", used.VCPUs, b.VCPUs, spec.VCPUs)}
	}
	if b.MemoryMiB > 0 && used.MemoryMiB+spec.MemoryMiB > b.MemoryMiB {
		return &noRoomError{m.bg.freed, errdefs.Exhausted("no room for a background guest: %d of %d MiB are in use and it needs %d", used.MemoryMiB, b.MemoryMiB, spec.MemoryMiB)}
	}
	if m.bg.res == nil {
		m.bg.res = map[string]bgReservation{}
	}
	m.bg.res[id] = bgReservation{kind: kind, cap: Capacity{VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB}}
	return nil
}

// releaseBackground returns id's background reservation to the budget.
func (m *Manager) releaseBackground(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.bg.res[id]; ok {
		delete(m.bg.res, id)
		m.roomFreedLocked()
	}
}

// retryAfterRoom tells WaitWarm what to do about err, the last error of
// making a template or filling a pool: retry now (room was freed since it
// was refused), wait on the returned channel (no room yet), or neither
// (err is not for lack of room).
func (m *Manager) retryAfterRoom(err error) (now bool, wait <-chan struct{}) {
	var nr *noRoomError
	if !errors.As(err, &nr) {
		return false, nil
	}
	freed, ch := m.roomWait()
	if freed != nr.freed {
		return true, nil
	}
	return false, ch
}

// backgroundUsageLocked sums the background reservations by kind.
func (m *Manager) backgroundUsageLocked() (tpl, warm Capacity) {
	for _, r := range m.bg.res {
		c := &tpl
		if r.kind == bgWarm {
			c = &warm
		}
		c.VCPUs += r.cap.VCPUs
		c.MemoryMiB += r.cap.MemoryMiB
	}
	return tpl, warm
}

// makeRoom throws warm guests away while sandboxes and background VMs
// together are over the budget: an admitted sandbox takes precedence over
// the pool. (Template builders are short-lived and left to finish.)
func (m *Manager) makeRoom() {
	for {
		m.mu.Lock()
		used := m.usageLocked()
		tpl, warm := m.backgroundUsageLocked()
		b := m.cfg.Budget
		over := (b.VCPUs > 0 && used.VCPUs+tpl.VCPUs+warm.VCPUs > b.VCPUs) ||
			(b.MemoryMiB > 0 && used.MemoryMiB+tpl.MemoryMiB+warm.MemoryMiB > b.MemoryMiB)
		m.mu.Unlock()
		if !over {
			return
		}
		w := m.popAnyWarm()
		if w == nil {
			return
		}
		m.log.Debug("dropping a warm guest to make room for a sandbox", "guest", w.id)
		w.kill(m)
	}
}

// popAnyWarm takes a pooled guest of the largest pool out, if any.
func (m *Manager) popAnyWarm() *warmVM {
	m.tplMu.Lock()
	defer m.tplMu.Unlock()
	best := ""
	for k, pool := range m.warm {
		if len(pool) > 0 && (best == "" || len(pool) > len(m.warm[best])) {
			best = k
		}
	}
	if best == "" {
		return nil
	}
	pool := m.warm[best]
	w := pool[len(pool)-1]
	m.warm[best] = pool[:len(pool)-1]
	m.tplChangedLocked()
	return w
}

// touchTemplateLocked records a use of key's template, for LRU eviction.
func (m *Manager) touchTemplateLocked(key string) {
	if m.bg.used == nil {
		m.bg.used = map[string]time.Time{}
	}
	m.bg.used[key] = time.Now()
}

// evictTemplates deletes the least recently used templates, other than
// keep's, until the templates fit their count and disk caps; keep's own
// template goes too when it alone is over the disk cap.
func (m *Manager) evictTemplates(ctx context.Context, keep string) {
	lim := m.cfg.TemplateLimits.withDefaults()
	for _, ref := range m.templatesToEvict(lim, keep) {
		m.log.Info("evicting a template", "template", ref.id, "key", ref.man.Key, "size_bytes", ref.man.SizeBytes)
		if err := m.DeleteSnapshot(ctx, ref.id); err != nil {
			m.log.Warn("evicting a template", "template", ref.id, "err", err)
		}
	}
}

// templatesToEvict picks the templates evictTemplates deletes: least
// recently used first, keep's last.
func (m *Manager) templatesToEvict(lim TemplateLimits, keep string) []*snapshotRef {
	m.tplMu.Lock()
	defer m.tplMu.Unlock()
	type entry struct {
		ref  *snapshotRef
		used time.Time
		keep bool
	}
	var all []entry
	var disk int64
	for k, ref := range m.tpl {
		used := m.bg.used[k]
		if used.IsZero() {
			used = ref.man.Created
		}
		all = append(all, entry{ref: ref, used: used, keep: k == keep})
		disk += ref.man.SizeBytes
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].keep != all[j].keep {
			return !all[i].keep
		}
		return all[i].used.Before(all[j].used)
	})
	var out []*snapshotRef
	n := len(all)
	for _, e := range all {
		if n <= lim.MaxTemplates && disk <= lim.DiskMiB<<20 {
			break
		}
		out = append(out, e.ref)
		n--
		disk -= e.ref.man.SizeBytes
	}
	return out
}

// TemplateUsage is what templates and warm guests hold, for SystemInfo
// and metrics.
type TemplateUsage struct {
	// Templates counts the template snapshots on disk and DiskBytes
	// their size; MaxTemplates and MaxDiskBytes are their caps.
	Templates    int   `json:"templates"`
	DiskBytes    int64 `json:"disk_bytes"`
	MaxTemplates int   `json:"max_templates"`
	MaxDiskBytes int64 `json:"max_disk_bytes"`
	// Building counts the template builders running and BuildUsage their
	// vCPUs and memory.
	Building   int      `json:"building"`
	BuildUsage Capacity `json:"build_usage"`
	// WarmGuests counts the warm-pool guests (ready or being restored)
	// and WarmUsage their vCPUs and memory.
	WarmGuests int      `json:"warm_guests"`
	WarmUsage  Capacity `json:"warm_usage"`
}

// templateUsage gathers TemplateUsage.
func (m *Manager) templateUsage() TemplateUsage {
	lim := m.cfg.TemplateLimits.withDefaults()
	u := TemplateUsage{MaxTemplates: lim.MaxTemplates, MaxDiskBytes: lim.DiskMiB << 20}
	m.mu.Lock()
	u.BuildUsage, u.WarmUsage = m.backgroundUsageLocked()
	for _, r := range m.bg.res {
		if r.kind == bgWarm {
			u.WarmGuests++
		} else {
			u.Building++
		}
	}
	m.mu.Unlock()
	m.tplMu.Lock()
	for _, ref := range m.tpl {
		u.Templates++
		u.DiskBytes += ref.man.SizeBytes
	}
	m.tplMu.Unlock()
	return u
}
