package plugins

import (
	"net/netip"
	"testing"
)

// SetAllowDial replaces the address rule of URL artifacts for one test.
func SetAllowDial(t *testing.T, f func(netip.Addr) error) {
	old := allowDial
	allowDial = f
	t.Cleanup(func() { allowDial = old })
}
