package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// TestAdmissionByMeasuredMemory runs one guest, reads its VMM's measured
// PSS, and asks for a sandbox that fits the configured budget but not the
// host's memory less what that guest really uses: it is refused with the
// figures, and nothing of it is left.
func TestAdmissionByMeasuredMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest")
	}
	const hostMiB = 2048
	env := sandboxtest.New(t, func(c *sandbox.Config) {
		c.Host = sandbox.HostSize{CPUs: 2, MemoryMiB: hostMiB}
		c.Budget = sandbox.Capacity{VCPUs: 64, MemoryMiB: 16 * 1024}
	})
	m := env.Manager
	ctx := context.Background()
	first, err := m.Create(ctx, sandbox.Spec{MemoryMiB: 256})
	if err != nil {
		t.Fatal(err)
	}
	mu := m.Measured()
	if mu.VMs != 1 || mu.PSSMiB <= 0 || mu.InFlight != 0 || mu.LimitMiB != hostMiB {
		t.Fatalf("measured with one guest = %+v; want its PSS, nothing in flight, limit %d", mu, hostMiB)
	}
	ask := (hostMiB - mu.PSSMiB + 64) / 64 * 64 // more than is left, less than the budget
	_, err = m.Create(ctx, sandbox.Spec{MemoryMiB: ask})
	if !errors.Is(err, errdefs.ErrResourceExhausted) || !strings.Contains(err.Error(), "measured PSS of 1 VMs") {
		t.Fatalf("create of %d MiB with %d MiB measured of %d = %v; want a refusal with the measured figures", ask, mu.PSSMiB, hostMiB, err)
	}
	page, err := m.List(ctx, sandbox.ListOptions{})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != first.ID {
		t.Fatalf("after the refusal: %d sandboxes, %v; want only the first", len(page.Items), err)
	}
	vms, _ := os.ReadDir(filepath.Join(env.StateDir, "vms"))
	if len(vms) != 1 {
		t.Fatalf("after the refusal: %d VM dirs; want the first's only", len(vms))
	}
	info, err := m.System(ctx)
	if err != nil || info.Measured.VMs != 1 || info.Host.MemoryMiB != hostMiB {
		t.Fatalf("System = %+v, %v; want the measured figures", info, err)
	}
}
