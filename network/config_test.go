package network

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero value", Config{}, true},
		{"full", Config{Bridge: "br-v", Subnet: netip.MustParsePrefix("172.30.0.0/24"), MTU: 1400, NAT: true, ProtectedPorts: []uint16{7777}}, true},
		{"long bridge name", Config{Bridge: "a-very-long-bridge"}, false},
		{"bridge with tap prefix", Config{Bridge: "vtbr"}, false},
		{"bridge with slash", Config{Bridge: "a/b"}, false},
		{"ipv6 subnet", Config{Subnet: netip.MustParsePrefix("fd00::/64")}, false},
		{"subnet too small", Config{Subnet: netip.MustParsePrefix("10.0.0.0/31")}, false},
		{"host bits set", Config{Subnet: netip.MustParsePrefix("10.88.0.1/16")}, false},
		{"tiny mtu", Config{MTU: 100}, false},
		{"port zero", Config{ProtectedPorts: []uint16{0}}, false},
		{"table with space", Config{Table: "a b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("Validate() = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestGateway(t *testing.T) {
	for _, tc := range []struct {
		subnet string
		want   string
	}{
		{"", "10.88.0.1/16"},
		{"172.30.4.0/24", "172.30.4.1/24"},
		{"192.168.0.0/30", "192.168.0.1/30"},
	} {
		var cfg Config
		if tc.subnet != "" {
			cfg.Subnet = netip.MustParsePrefix(tc.subnet)
		}
		if got := cfg.Gateway().String(); got != tc.want {
			t.Errorf("Gateway() for %q = %s, want %s", tc.subnet, got, tc.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{MTU: -1}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("New with bad config = %v, want ErrInvalidArgument", err)
	}
}
