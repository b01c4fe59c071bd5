package daemon_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestSystemSaysWhichDriverAndWhy starts volantd with --driver auto (the
// default) and checks that /v1/system names the driver and the reason.
func TestSystemSaysWhichDriverAndWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts volantd")
	}
	d := newVolantd(t)
	d.start()
	var sys struct {
		Driver       string `json:"driver"`
		DriverReason string `json:"driver_reason"`
	}
	if _, err := d.call(context.Background(), "GET", "/v1/system", nil, &sys); err != nil {
		t.Fatal(err)
	}
	t.Logf("driver %s: %s", sys.Driver, sys.DriverReason)
	if !strings.HasPrefix(sys.DriverReason, "auto chose "+sys.Driver+": ") {
		t.Errorf("driver_reason %q does not say why %s was chosen", sys.DriverReason, sys.Driver)
	}
	if _, err := exec.LookPath("cloud-hypervisor"); err != nil && (sys.Driver != "qemu" || !strings.Contains(sys.DriverReason, "cloud-hypervisor is not usable here")) {
		t.Errorf("without cloud-hypervisor: got %s (%q), want qemu and why not cloud-hypervisor", sys.Driver, sys.DriverReason)
	}
}
