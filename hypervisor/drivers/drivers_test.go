package drivers

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestValid(t *testing.T) {
	for _, ok := range []string{"", "auto", "qemu", "cloud-hypervisor"} {
		if err := Valid(ok); err != nil {
			t.Errorf("Valid(%q): %v", ok, err)
		}
	}
	err := Valid("xen")
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "auto, cloud-hypervisor, qemu") {
		t.Errorf("Valid(xen): got %v, want an invalid argument listing the drivers", err)
	}
}

// TestAutoSaysWhy checks auto's choice on this host and its reason. Here
// there is no cloud-hypervisor, so auto falls back to QEMU and says why.
func TestAutoSaysWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test runs qemu-system-x86_64 (run `make test` for the full suite)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("no qemu-system-x86_64 here")
	}
	o := Options{StateDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	d, reason, err := Open(context.Background(), Auto, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("auto chose %s: %s", d.Name(), reason)
	if !strings.HasPrefix(reason, "auto chose "+d.Name()+": ") {
		t.Errorf("reason %q does not name the chosen driver %s", reason, d.Name())
	}
	if _, err := exec.LookPath("cloud-hypervisor"); err != nil {
		if d.Name() != "qemu" || !strings.Contains(reason, "cloud-hypervisor is not usable here (") {
			t.Errorf("without cloud-hypervisor: got %s (%q), want qemu with the reason cloud-hypervisor was not used", d.Name(), reason)
		}
		_, _, err := Open(context.Background(), "cloud-hypervisor", o)
		if !errors.Is(err, errdefs.ErrUnavailable) {
			t.Errorf("driver=cloud-hypervisor without its binary: got %v, want ErrUnavailable", err)
		}
	}
	d, reason, err = Open(context.Background(), "qemu", o)
	if err != nil || d.Name() != "qemu" || reason != "driver=qemu requested" {
		t.Errorf("driver=qemu: got %v, %q, %v", d, reason, err)
	}
}
