package network

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netns"
)

// commentsOf returns the rule comments buildRuleset gives cfg, per chain.
func commentsOf(cfg Config) map[string][]string {
	out := map[string][]string{}
	for _, cs := range buildRuleset(cfg.withDefaults()) {
		out[cs.name] = []string{}
		for _, r := range cs.rules {
			out[cs.name] = append(out[cs.name], r.comment)
		}
	}
	return out
}

// listRuleComments returns the comments of the rules in each chain of the
// Manager's table, or nil if the table does not exist.
func (m *Manager) listRuleComments(c *nftables.Conn) (map[string][]string, error) {
	live, err := m.readTable(c)
	if err != nil || live == nil {
		return nil, err
	}
	out := map[string][]string{}
	for name, lc := range live {
		out[name] = []string{}
		for _, r := range lc.rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			out[name] = append(out[name], s)
		}
	}
	return out, nil
}

// ruleHandles lists the handles of every rule in our table, in order.
func ruleHandles(t *testing.T, ns netns.NsHandle, table string) []uint64 {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tb := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	var hs []uint64
	for _, chain := range []string{"input", "forward", "postrouting"} {
		rules, err := c.GetRules(tb, &nftables.Chain{Name: chain, Table: tb})
		if err != nil {
			continue // chain absent
		}
		for _, r := range rules {
			hs = append(hs, r.Handle)
		}
	}
	return hs
}

func TestEnsureFirewall(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  Config
		// lines `nft list table` must show, proving the expressions
		// mean what the comments say.
		lines []string
	}{
		{
			name: "isolated, no nat",
			cfg:  Config{ProtectedPorts: []uint16{7777}, AllowDHCP: true},
			lines: []string{
				`iifname "volant0" tcp dport 7777 drop`,
				`iifname != "lo" ip saddr 10.88.0.0/16 udp dport 7777 drop`,
				`iifname "volant0" ct state established,related accept`,
				`iifname "volant0" udp dport 67 accept`,
				`iifname "volant0" drop`,
				`iifname "volant0" oifname "volant0" drop`,
				`oifname "volant0" ct state established,related accept`,
			},
		},
		{
			name: "nat, guest to guest",
			cfg:  Config{NAT: true, AllowGuestToGuest: true, AllowDNS: true, AllowPing: true},
			lines: []string{
				`iifname "volant0" oifname "volant0" accept`,
				`iifname "volant0" ip saddr 10.88.0.0/16 accept`,
				`iifname "volant0" udp dport 53 accept`,
				`iifname "volant0" icmp type echo-request accept`,
				`ip saddr 10.88.0.0/16 oifname != "volant0" masquerade`,
			},
		},
		{
			name: "egress enforcement",
			cfg:  Config{NAT: true, EgressProxyPort: 3129, ProtectedPorts: []uint16{7777}},
			lines: []string{
				`iifname "volant0" ip daddr != 10.88.0.0/16 meta l4proto tcp redirect to :3129`,
				`iifname "volant0" meta nfproto ipv6 reject with icmpx admin-prohibited`,
				`iifname "volant0" tcp dport 3129 accept`,
				`iifname "volant0" meta l4proto tcp reject with tcp reset`,
				`iifname "volant0" reject with icmpx admin-prohibited`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, name := newNamedNS(t, "fw")
			m := newManager(t, ns, tc.cfg)
			if err := m.EnsureFirewall(ctx); err != nil {
				t.Fatalf("EnsureFirewall: %v", err)
			}

			c, err := m.nft()
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.listRuleComments(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(commentsOf(tc.cfg), got); diff != "" {
				t.Errorf("rules in the kernel (-want +got):\n%s", diff)
			}

			out, err := exec.Command("ip", "netns", "exec", name, "nft", "list", "table", "inet", DefaultTable).CombinedOutput()
			if err != nil {
				t.Fatalf("nft list table: %v: %s", err, out)
			}
			for _, l := range tc.lines {
				if !strings.Contains(string(out), l+" comment") {
					t.Errorf("nft list table lacks %q:\n%s", l, out)
				}
			}

			before := ruleHandles(t, ns, DefaultTable)
			if err := m.EnsureFirewall(ctx); err != nil {
				t.Fatalf("second EnsureFirewall: %v", err)
			}
			if diff := cmp.Diff(before, ruleHandles(t, ns, DefaultTable)); diff != "" {
				t.Errorf("second EnsureFirewall rewrote the rules (-before +after):\n%s", diff)
			}

			// A rule changed behind our back, comment kept, is put back.
			tb := m.table()
			rules, err := c.GetRules(tb, &nftables.Chain{Name: "input", Table: tb})
			if err != nil || len(rules) == 0 {
				t.Fatalf("input rules: %v, %v", rules, err)
			}
			last := rules[len(rules)-1]
			last.Exprs = []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
			c.ReplaceRule(last)
			if err := c.Flush(); err != nil {
				t.Fatalf("tampering: %v", err)
			}
			if same, err := m.tableMatches(c, buildRuleset(m.cfg)); err != nil || same {
				t.Fatalf("tableMatches after tampering = %v, %v; want false", same, err)
			}
			if err := m.EnsureFirewall(ctx); err != nil {
				t.Fatalf("EnsureFirewall after tampering: %v", err)
			}
			same, err := m.tableMatches(c, buildRuleset(m.cfg))
			if err != nil || !same {
				t.Errorf("after tampering, EnsureFirewall left the table different from the ruleset (err %v)", err)
			}

			// A different Config replaces the table as a whole.
			other := tc.cfg
			other.NAT = !other.NAT
			m2 := newManager(t, ns, other)
			if err := m2.EnsureFirewall(ctx); err != nil {
				t.Fatalf("EnsureFirewall with changed config: %v", err)
			}
			got, err = m2.listRuleComments(c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(commentsOf(other), got); diff != "" {
				t.Errorf("rules after config change (-want +got):\n%s", diff)
			}

			if tc.cfg.NAT || other.NAT {
				out, err := exec.Command("ip", "netns", "exec", name, "cat", ipForwardPath).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "1" {
					t.Errorf("ip_forward in the namespace = %q, %v; want 1", out, err)
				}
			}
		})
	}
}

func TestTeardown(t *testing.T) {
	ctx := context.Background()
	ns := newNS(t, "teardown")
	h := handleAt(t, ns)
	m := newManager(t, ns, Config{NAT: true})
	mustEnsureBridge(t, m)
	if err := m.CreateTap(ctx, TapName("a")); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureFirewall(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := m.Teardown(ctx); err != nil {
			t.Fatalf("Teardown #%d: %v", i+1, err)
		}
	}
	if _, err := h.LinkByName(DefaultBridge); err == nil {
		t.Errorf("bridge still exists after Teardown")
	}
	if _, err := h.LinkByName(TapName("a")); err == nil {
		t.Errorf("tap still exists after Teardown")
	}
	c, err := m.nft()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.listRuleComments(c); err != nil || got != nil {
		t.Errorf("table after Teardown = %v, %v; want none", got, err)
	}
}
