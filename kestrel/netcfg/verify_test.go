package netcfg

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestStateCheck(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:00:00:09")
	other, _ := net.ParseMAC("52:54:01:aa:bb:cc")
	cfg := Config{Addr: netip.MustParsePrefix("10.0.0.9/24"), Gateway: netip.MustParseAddr("10.0.0.1"), MAC: mac}
	good := State{Link: "eth0", MAC: mac, Up: true, Addrs: []netip.Prefix{cfg.Addr}, Gateway: cfg.Gateway}
	tests := []struct {
		name  string
		cfg   Config
		state func(State) State
		want  string // "" means no error
	}{
		{"all there", cfg, func(s State) State { return s }, ""},
		{"nothing asked", Config{Hostname: "x"}, func(State) State { return State{Link: "eth0"} }, ""},
		{"empty link", cfg, func(State) State { return State{Link: "eth0"} }, "the link is down"},
		{"no address", cfg, func(s State) State { s.Addrs = nil; return s }, "address 10.0.0.9/24 is missing"},
		{"other address", cfg, func(s State) State { s.Addrs = []netip.Prefix{netip.MustParsePrefix("10.0.0.8/24")}; return s }, "address 10.0.0.9/24 is missing"},
		{"no route", cfg, func(s State) State { s.Gateway = netip.Addr{}; return s }, "default route via 10.0.0.1 is missing"},
		{"old mac", cfg, func(s State) State { s.MAC = other; return s }, "mac is 52:54:01:aa:bb:cc"},
		{"down", cfg, func(s State) State { s.Up = false; return s }, "the link is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.state(good).Check(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
