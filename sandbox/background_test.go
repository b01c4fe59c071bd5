package sandbox

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/internal/logging"
	"github.com/volant-sh/volant/store"
)

// bareManager is a Manager with a budget and no driver: enough for the
// background bookkeeping.
func bareManager(t *testing.T, budget Capacity, lim TemplateLimits) *Manager {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &Manager{
		cfg:      Config{Budget: budget, TemplateLimits: lim, StateDir: dir, Store: st},
		log:      logging.Discard(),
		life:     context.Background(),
		vms:      map[string]*instance{},
		reserved: map[string]Capacity{},
		tpl:      map[string]*snapshotRef{},
	}
}

// idleVM is a hypervisor.VM that is never running anything.
type idleVM struct {
	killed bool
	done   chan struct{}
}

func (v *idleVM) ID() string                                      { return "idle" }
func (v *idleVM) Dir() string                                     { return "" }
func (v *idleVM) PID() int                                        { return 0 }
func (v *idleVM) State(context.Context) (hypervisor.State, error) { return "", nil }
func (v *idleVM) DialAgent(context.Context) (net.Conn, error)     { return nil, errors.New("idle") }
func (v *idleVM) Shutdown(context.Context) error                  { return v.Kill() }
func (v *idleVM) Kill() error                                     { v.killed = true; return nil }
func (v *idleVM) Done() <-chan struct{}                           { return v.done }
func (v *idleVM) ConsoleLogPath() string                          { return "" }
func (v *idleVM) Close() error                                    { return nil }

func TestAdmitBackgroundOnlyIntoFreeRoom(t *testing.T) {
	small := Spec{VCPUs: 1, MemoryMiB: 256}
	tests := []struct {
		name    string
		users   Capacity // admitted to sandboxes first
		bg      []Spec   // background VMs admitted before
		want    bool     // the next 1 vCPU / 256 MiB background VM fits
		wantTpl Capacity
	}{
		{"empty host", Capacity{}, nil, true, Capacity{1, 256}},
		{"sandboxes took the CPUs", Capacity{VCPUs: 4, MemoryMiB: 256}, nil, false, Capacity{}},
		{"sandboxes took the memory", Capacity{VCPUs: 1, MemoryMiB: 1024}, nil, false, Capacity{}},
		{"other background VMs took the rest", Capacity{VCPUs: 2, MemoryMiB: 256}, []Spec{small, small}, false, Capacity{2, 512}},
		{"room left", Capacity{VCPUs: 2, MemoryMiB: 256}, []Spec{small}, true, Capacity{2, 512}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := bareManager(t, Capacity{VCPUs: 4, MemoryMiB: 1024}, TemplateLimits{})
			if err := m.admit("sbx-1", Spec{VCPUs: tt.users.VCPUs, MemoryMiB: tt.users.MemoryMiB}); err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.bg {
				if err := m.admitBackground(newID("build:"), bgTemplate, s); err != nil {
					t.Fatalf("background VM %d: %v", i, err)
				}
			}
			err := m.admitBackground("build:next", bgTemplate, small)
			if got := err == nil; got != tt.want {
				t.Fatalf("admitted = %v, want %v (err %v)", got, tt.want, err)
			}
			if err != nil && !errors.Is(err, errdefs.ErrResourceExhausted) {
				t.Errorf("refusal is not resource-exhausted: %v", err)
			}
			tpl, warm := m.backgroundUsageLocked()
			if diff := cmp.Diff(tt.wantTpl, tpl); diff != "" {
				t.Errorf("template usage (-want +got):\n%s", diff)
			}
			if warm != (Capacity{}) {
				t.Errorf("warm usage %+v, want none", warm)
			}
			if u := m.usageLocked(); u != tt.users {
				t.Errorf("sandbox usage %+v, want %+v: background VMs are counted apart", u, tt.users)
			}
		})
	}
}

// TestSandboxesTakePrecedence: background VMs never make a create fail;
// warm guests are thrown away to make room for it.
func TestSandboxesTakePrecedence(t *testing.T) {
	m := bareManager(t, Capacity{VCPUs: 2, MemoryMiB: 1024}, TemplateLimits{})
	var vms []*idleVM
	m.warm = map[string][]*warmVM{}
	for range 2 {
		id := newID(warmPrefix)
		if err := m.admitBackground(id, bgWarm, Spec{VCPUs: 1, MemoryMiB: 256}); err != nil {
			t.Fatal(err)
		}
		vm := &idleVM{done: make(chan struct{})}
		vms = append(vms, vm)
		m.warm["k"] = append(m.warm["k"], &warmVM{id: id, vm: vm})
	}
	if err := m.admit("sbx-1", Spec{VCPUs: 1, MemoryMiB: 256}); err != nil {
		t.Fatalf("a create fails for the warm pool: %v", err)
	}
	m.makeRoom()
	if n := len(m.warm["k"]); n != 1 {
		t.Errorf("%d warm guests left, want 1 (one gave way)", n)
	}
	killed := 0
	for _, vm := range vms {
		if vm.killed {
			killed++
		}
	}
	if killed != 1 {
		t.Errorf("%d warm guests killed, want 1", killed)
	}
	u := m.templateUsage()
	if u.WarmGuests != 1 || u.WarmUsage != (Capacity{1, 256}) {
		t.Errorf("warm usage %d guests %+v, want 1 guest of 1 vCPU / 256 MiB", u.WarmGuests, u.WarmUsage)
	}
	// With no room at all, another background VM is refused.
	if err := m.admitBackground("build:x", bgTemplate, Spec{VCPUs: 1, MemoryMiB: 256}); err == nil {
		t.Error("a template builder was admitted into a full host")
	}
}

// addTemplate registers a template of key with size bytes, used at used.
func addTemplate(t *testing.T, m *Manager, key string, size int64, used time.Time) string {
	t.Helper()
	id := newID(templatePrefix)
	dir := m.snapshotDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := m.cfg.Store.CreateSnapshot(context.Background(), store.Snapshot{
		ID: id, Runtime: "default", Dir: dir, Manifest: []byte(`{"template":true}`), SizeBytes: size, CreatedAt: used,
	}); err != nil {
		t.Fatal(err)
	}
	m.tpl[key] = &snapshotRef{id: id, dir: dir, man: Manifest{Key: key, Template: true, SizeBytes: size, Created: used}}
	m.tplMu.Lock()
	m.touchTemplateLocked(key)
	m.bg.used[key] = used
	m.tplMu.Unlock()
	return id
}

func TestEvictTemplatesLRU(t *testing.T) {
	const mib = 1 << 20
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		lim  TemplateLimits
		// sizes in MiB of templates a, b, c, d, used in that order
		// (a least recently); d is the one just built.
		sizes []int64
		want  []string // keys left
	}{
		{"under the caps", TemplateLimits{MaxTemplates: 8, DiskMiB: 1024}, []int64{71, 71, 71, 71}, []string{"a", "b", "c", "d"}},
		{"count cap: least recently used go", TemplateLimits{MaxTemplates: 2, DiskMiB: 1024}, []int64{71, 71, 71, 71}, []string{"c", "d"}},
		{"disk cap", TemplateLimits{MaxTemplates: 8, DiskMiB: 150}, []int64{71, 71, 71, 71}, []string{"c", "d"}},
		{"a big old one goes first", TemplateLimits{MaxTemplates: 8, DiskMiB: 300}, []int64{200, 71, 71, 71}, []string{"b", "c", "d"}},
		{"the new one alone is over the disk cap", TemplateLimits{MaxTemplates: 8, DiskMiB: 100}, []int64{10, 10, 10, 500}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := bareManager(t, Capacity{}, tt.lim)
			dirs := map[string]string{}
			for i, key := range []string{"a", "b", "c", "d"} {
				id := addTemplate(t, m, key, tt.sizes[i]*mib, t0.Add(time.Duration(i)*time.Minute))
				dirs[key] = m.snapshotDir(id)
			}
			m.evictTemplates(context.Background(), "d")
			var got []string
			for k := range m.tpl {
				got = append(got, k)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("templates left (-want +got):\n%s", diff)
			}
			// Evicted templates are gone from disk and the database too.
			recs, err := m.cfg.Store.ListSnapshots(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(tt.want) {
				t.Errorf("%d snapshot records left, want %d", len(recs), len(tt.want))
			}
			for key, dir := range dirs {
				_, err := os.Stat(dir)
				if kept := m.tpl[key] != nil; kept != (err == nil) {
					t.Errorf("template %s: kept %v but its directory stat says %v", key, kept, err)
				}
			}
			u := m.templateUsage()
			if u.Templates != len(tt.want) || u.MaxTemplates != tt.lim.MaxTemplates || u.MaxDiskBytes != tt.lim.DiskMiB*mib {
				t.Errorf("usage %+v does not match the templates left and the caps", u)
			}
		})
	}
}

// TestTemplateUseRefreshesLRU: a template a create used is kept over one
// made later but not used since.
func TestTemplateUseRefreshesLRU(t *testing.T) {
	m := bareManager(t, Capacity{}, TemplateLimits{MaxTemplates: 2, DiskMiB: 1024})
	t0 := time.Now().Add(-time.Hour)
	addTemplate(t, m, "old", 1, t0)
	addTemplate(t, m, "newer", 1, t0.Add(time.Minute))
	m.tplMu.Lock()
	m.touchTemplateLocked("old") // what template() does on a hit
	m.tplMu.Unlock()
	addTemplate(t, m, "new", 1, time.Now().Add(time.Minute))
	m.evictTemplates(context.Background(), "new")
	if m.tpl["old"] == nil || m.tpl["newer"] != nil {
		t.Errorf("templates left: old %v, newer %v; want the used one kept", m.tpl["old"] != nil, m.tpl["newer"] != nil)
	}
}

func TestTemplateLimitsDefaults(t *testing.T) {
	got := TemplateLimits{}.withDefaults()
	want := TemplateLimits{MaxTemplates: DefaultMaxTemplates, DiskMiB: DefaultTemplateDiskMiB}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
}

// TestRetryAfterRoom: a background VM refused for lack of room is retried
// once a sandbox gives its room back, and not before.
func TestRetryAfterRoom(t *testing.T) {
	m := bareManager(t, Capacity{VCPUs: 1, MemoryMiB: 1024}, TemplateLimits{})
	if err := m.admit("sbx-1", Spec{VCPUs: 1, MemoryMiB: 256}); err != nil {
		t.Fatal(err)
	}
	err := m.admitBackground("build:k", bgTemplate, Spec{VCPUs: 1, MemoryMiB: 256})
	if err == nil {
		t.Fatal("a template builder was admitted into a full host")
	}
	now, wait := m.retryAfterRoom(err)
	if now || wait == nil {
		t.Fatalf("before any room is freed: now %v, wait %v; want a wait", now, wait)
	}
	m.unadmit("sbx-1")
	<-wait // closed by the free
	if now, _ := m.retryAfterRoom(err); !now {
		t.Error("after a sandbox freed its room, the refusal is not retried")
	}
	if now, wait := m.retryAfterRoom(errors.New("boot failed")); now || wait != nil {
		t.Error("an error not for lack of room is retried")
	}
}
