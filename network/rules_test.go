package network

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBuildRuleset pins down, per Config, which rules each chain holds and
// in what order (the rule comments say in nft syntax what each one does;
// TestEnsureFirewall checks the kernel renders the expressions the same).
func TestBuildRuleset(t *testing.T) {
	hostTail := []string{
		"iifname volant0 ct state established,related accept",
		"iifname volant0 ct state invalid drop",
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want map[string][]string
	}{
		{
			name: "defaults",
			cfg:  Config{},
			want: map[string][]string{
				"input": append(append([]string{}, hostTail...), "iifname volant0 drop"),
				"forward": {
					"iifname volant0 oifname volant0 drop",
					"iifname volant0 drop",
					"oifname volant0 ct state established,related accept",
					"oifname volant0 drop",
				},
			},
		},
		{
			name: "egress",
			cfg:  Config{NAT: true, EgressProxyPort: 3129},
			want: map[string][]string{
				"prerouting": {"iifname volant0 ip daddr != 10.88.0.0/16 tcp redirect to :3129"},
				"input": {
					"iifname volant0 meta nfproto ipv6 reject with icmpx admin-prohibited",
					"iifname volant0 ct state established,related accept",
					"iifname volant0 ct state invalid drop",
					"iifname volant0 udp dport 53 accept",
					"iifname volant0 tcp dport 53 accept",
					"iifname volant0 tcp dport 3129 accept",
					"iifname volant0 meta l4proto tcp reject with tcp reset",
					"iifname volant0 reject with icmpx admin-prohibited",
				},
				"forward": {
					"iifname volant0 oifname volant0 drop",
					"iifname volant0 meta l4proto tcp reject with tcp reset",
					"iifname volant0 reject with icmpx admin-prohibited",
					"iifname volant0 drop",
					"oifname volant0 ct state established,related accept",
					"oifname volant0 drop",
				},
				"postrouting": {"ip saddr 10.88.0.0/16 oifname != volant0 masquerade"},
			},
		},
		{
			name: "everything on",
			cfg: Config{Bridge: "br9", ProtectedPorts: []uint16{7777, 22}, AllowDHCP: true, AllowDNS: true,
				AllowPing: true, NAT: true, AllowGuestToGuest: true},
			want: map[string][]string{
				"input": {
					"iifname br9 tcp dport 7777 drop",
					"iifname != lo ip saddr 10.88.0.0/16 tcp dport 7777 drop",
					"iifname br9 udp dport 7777 drop",
					"iifname != lo ip saddr 10.88.0.0/16 udp dport 7777 drop",
					"iifname br9 tcp dport 22 drop",
					"iifname != lo ip saddr 10.88.0.0/16 tcp dport 22 drop",
					"iifname br9 udp dport 22 drop",
					"iifname != lo ip saddr 10.88.0.0/16 udp dport 22 drop",
					"iifname br9 ct state established,related accept",
					"iifname br9 ct state invalid drop",
					"iifname br9 udp dport 67 accept",
					"iifname br9 udp dport 53 accept",
					"iifname br9 tcp dport 53 accept",
					"iifname br9 icmp type echo-request accept",
					"iifname br9 drop",
				},
				"forward": {
					"iifname br9 oifname br9 accept",
					"iifname br9 ip saddr 10.88.0.0/16 accept",
					"iifname br9 drop",
					"oifname br9 ct state established,related accept",
					"oifname br9 drop",
				},
				"postrouting": {"ip saddr 10.88.0.0/16 oifname != br9 masquerade"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, commentsOf(tc.cfg)); diff != "" {
				t.Errorf("buildRuleset (-want +got):\n%s", diff)
			}
			for _, cs := range buildRuleset(tc.cfg.withDefaults()) {
				for _, r := range cs.rules {
					if len(r.comment) > 127 {
						t.Errorf("comment %q is longer than nft allows", r.comment)
					}
				}
			}
		})
	}
}
