package cloudhypervisor

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/hypervisortest"
	"github.com/volant-sh/volant/internal/testguest"
)

// TestConformance runs the one conformance suite against a real
// cloud-hypervisor. It needs the binary on PATH (or VOLANT_CH_BINARY) and
// a KVM that boots the test guest; without them it skips and says which
// is missing.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("boots real guests; not in -short")
	}
	opts := Options{StateDir: filepath.Join(os.TempDir(), "volant-test-ch-state"), Binary: os.Getenv("VOLANT_CH_BINARY"), Logger: discardLogger()}
	if _, _, err := findBinary(opts.Binary); err != nil {
		t.Skipf("no cloud-hypervisor here: %v", err)
	}
	if ok, why := kvmUsable(); !ok {
		t.Skipf("cloud-hypervisor needs a working KVM: %s", why)
	}
	img := testguest.Image(t)
	if r := Probe(context.Background(), opts, img.Kernel); !r.OK {
		t.Skipf("cloud-hypervisor does not boot the test guest here: %s", r.Reason)
	}
	hypervisortest.Run(t, func(t *testing.T) hypervisor.Driver {
		d, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, hypervisortest.Guest{Kernel: img.Kernel, Initramfs: img.Initramfs})
}
