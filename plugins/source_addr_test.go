package plugins

import (
	"net/netip"
	"testing"
)

func TestCheckPublicAddr(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"::ffff:127.0.0.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false},
		{"192.168.1.1", false}, {"fd00:ec2::254", false}, {"100.100.100.200", false}, {"0.0.0.0", false},
		{"::", false}, {"224.0.0.1", false}, {"::ffff:10.0.0.1", false},
		{"93.184.216.34", true}, {"2606:2800:220:1:248:1893:25c8:1946", true},
	} {
		err := checkPublicAddr(netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.ok {
			t.Errorf("checkPublicAddr(%s) = %v, want ok %v", tt.addr, err, tt.ok)
		}
	}
}
