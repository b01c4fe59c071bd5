package sandbox_test

import (
	"context"
	"os"
	"testing"

	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// TestTemplatesInBudget boots real guests on a 2-vCPU budget: the
// template and warm guest are reported apart from sandboxes, a create
// that needs the warm guest's room gets it, a template that does not fit
// is skipped, and a template past max_templates evicts the least
// recently used one.
func TestTemplatesInBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	env := sandboxtest.New(t, func(c *sandbox.Config) {
		c.Templates, c.WarmPool = true, 1
		c.Budget = sandbox.Capacity{VCPUs: 2, MemoryMiB: 2048}
		c.TemplateLimits = sandbox.TemplateLimits{MaxTemplates: 1}
	})
	m := env.Manager
	ctx := context.Background()
	first := waitWarm(t, m, sandbox.Spec{})
	info, err := m.System(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Templates.Templates != 1 || info.Templates.DiskBytes <= 0 || info.Templates.WarmGuests != 1 || info.Templates.WarmUsage.VCPUs != 1 {
		t.Errorf("with a template and a warm guest, system reports %+v", info.Templates)
	}
	if info.Usage != (sandbox.Capacity{}) {
		t.Errorf("sandbox usage %+v with no sandbox; background VMs are reported apart", info.Usage)
	}
	t.Logf("template %s: %d bytes", first, info.Templates.DiskBytes)

	// Two sandboxes fill the budget: the second (another size, so cold)
	// is not refused for the warm guest refilled after the first.
	a, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Create(ctx, sandbox.Spec{MemoryMiB: 384})
	if err != nil {
		t.Fatalf("a create that needs the warm pool's room was refused: %v", err)
	}
	info, err = m.System(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Usage != (sandbox.Capacity{VCPUs: 2, MemoryMiB: 256 + 384}) {
		t.Errorf("sandbox usage %+v, want 2 vCPUs / 640 MiB", info.Usage)
	}
	for _, id := range []string{a.ID, b.ID} {
		if err := m.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	// The 384 MiB template, built now there is room, evicts the first.
	second := waitWarm(t, m, sandbox.Spec{MemoryMiB: 384})
	if second == first {
		t.Fatalf("the 384 MiB spec waited for the first template %s", first)
	}
	snaps, err := m.ListSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.ID == first {
			t.Errorf("template %s is still listed past max_templates 1", first)
		}
	}
	if _, err := os.Stat(env.StateDir + "/snapshots/" + first); !os.IsNotExist(err) {
		t.Errorf("the evicted template's directory: %v, want it gone", err)
	}
	info, err = m.System(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Templates.Templates != 1 {
		t.Errorf("system reports %d templates, want 1", info.Templates.Templates)
	}
}
