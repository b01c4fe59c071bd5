package network

import (
	"context"
	"fmt"
	"reflect"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"

	"github.com/volant-sh/volant/errdefs"
)

// EnsureFirewall makes Volant's nftables table (family inet, Config.Table)
// hold exactly the ruleset the Config asks for:
//
//   - input: packets from the bridge to the host itself are dropped, except
//     replies (ct state established,related) and DHCP, DNS and ping when the
//     Config allows them; Config.ProtectedPorts are dropped first, for
//     packets from the bridge or from the guest subnet (but not the host's
//     own, over lo), on any host address.
//   - forward: traffic between guests is dropped (on top of bridge port
//     isolation) unless Config.AllowGuestToGuest; with Config.NAT, guests
//     may start connections out of the subnet and receive the replies;
//     nothing from outside may start a connection to a guest.
//   - postrouting (only with Config.NAT): guest traffic leaving through any
//     interface but the bridge is masqueraded, and IPv4 forwarding is
//     switched on in the namespace.
//
// When the table already matches, nothing is written. Otherwise the table
// is deleted and rebuilt in one atomic transaction, so no packet ever sees a
// half-built ruleset. Other tables are never touched.
func (m *Manager) EnsureFirewall(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.handleLocked(); err != nil {
		return err
	}

	want := buildRuleset(m.cfg)
	c, err := m.nft()
	if err != nil {
		return err
	}
	same, err := m.tableMatches(c, want)
	if err != nil {
		return err
	}
	if !same {
		if err := m.replaceTable(c, want); err != nil {
			return err
		}
		m.log.Info("rebuilt firewall", "table", "inet "+m.cfg.Table, "nat", m.cfg.NAT)
	}
	if m.cfg.NAT {
		if err := m.ensureIPForward(); err != nil {
			return err
		}
	}
	return nil
}

// table is Volant's table.
func (m *Manager) table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: m.cfg.Table}
}

// replaceTable deletes and recreates the table with want, in one batch.
// Adding the table first makes the delete succeed when it did not exist.
func (m *Manager) replaceTable(c *nftables.Conn, want []chainSpec) error {
	t := m.table()
	c.AddTable(t)
	c.DelTable(t)
	t = c.AddTable(m.table())
	accept := nftables.ChainPolicyAccept
	for _, cs := range want {
		ch := c.AddChain(&nftables.Chain{
			Name: cs.name, Table: t, Type: cs.typ, Hooknum: cs.hook, Priority: cs.prio, Policy: &accept,
		})
		for _, r := range cs.rules {
			c.AddRule(&nftables.Rule{
				Table: t, Chain: ch, Exprs: r.exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment),
			})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network: writing nftables table inet %s: %w", m.cfg.Table, classify(err))
	}
	return nil
}

// tableMatches reports whether the table holds exactly the chains of want
// (same type, hook, priority and policy) with the same rules (expressions
// and comments) in the same order.
func (m *Manager) tableMatches(c *nftables.Conn, want []chainSpec) (bool, error) {
	live, err := m.readTable(c)
	if err != nil || live == nil {
		return false, err
	}
	if len(live) != len(want) {
		return false, nil
	}
	for _, cs := range want {
		lc, ok := live[cs.name]
		if !ok || !chainMatches(lc.chain, cs) || len(lc.rules) != len(cs.rules) {
			return false, nil
		}
		for i, r := range cs.rules {
			got := lc.rules[i]
			comment, _ := userdata.GetString(got.UserData, userdata.TypeComment)
			if comment != r.comment || !reflect.DeepEqual(got.Exprs, r.exprs) {
				return false, nil
			}
		}
	}
	return true, nil
}

// chainMatches reports whether a chain read from the kernel is the base
// chain cs describes, with policy accept.
func chainMatches(ch *nftables.Chain, cs chainSpec) bool {
	return ch.Type == cs.typ &&
		ch.Hooknum != nil && *ch.Hooknum == *cs.hook &&
		ch.Priority != nil && *ch.Priority == *cs.prio &&
		ch.Policy != nil && *ch.Policy == nftables.ChainPolicyAccept
}

// liveChain is a chain of the table as the kernel has it.
type liveChain struct {
	chain *nftables.Chain
	rules []*nftables.Rule
}

// readTable returns the chains of the table and their rules, or nil if
// the table does not exist.
func (m *Manager) readTable(c *nftables.Conn) (map[string]liveChain, error) {
	t := m.table()
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("network: listing nftables tables: %w", classify(err))
	}
	found := false
	for _, x := range tables {
		found = found || x.Name == t.Name
	}
	if !found {
		return nil, nil
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("network: listing nftables chains: %w", classify(err))
	}
	out := map[string]liveChain{}
	for _, ch := range chains {
		if ch.Table.Name != t.Name {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return nil, fmt.Errorf("network: listing rules of chain %s: %w", ch.Name, classify(err))
		}
		out[ch.Name] = liveChain{chain: ch, rules: rules}
	}
	return out, nil
}

// removeTable deletes the table; a missing table is not an error.
func (m *Manager) removeTable() error {
	c, err := m.nft()
	if err != nil {
		return err
	}
	c.AddTable(m.table())
	c.DelTable(m.table())
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network: deleting nftables table inet %s: %w", m.cfg.Table, classify(err))
	}
	return nil
}

// Teardown removes everything the Manager sets up: the nftables table, the
// taps ListTaps reports and the bridge. It is for tests and uninstall; a
// running daemon never calls it. Missing pieces are not errors. IPv4
// forwarding is left as it is, since others may rely on it.
func (m *Manager) Teardown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	_, err := m.handleLocked()
	if err == nil {
		err = m.removeTable()
	}
	if err == nil {
		err = m.removePins()
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}

	taps, err := m.ListTaps(ctx)
	if err != nil {
		return err
	}
	for _, name := range taps {
		if err := m.DeleteTap(ctx, name); err != nil {
			return err
		}
	}

	h, unlock, err := m.begin(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	br, err := h.LinkByName(m.cfg.Bridge)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return wrapNetlink("looking up bridge "+m.cfg.Bridge, err)
	}
	if br.Type() != "bridge" {
		return errdefs.Conflict("network: %s is a %s, not a bridge; not deleting it", m.cfg.Bridge, br.Type())
	}
	if err := h.LinkDel(br); err != nil && !isLinkNotFound(err) {
		return wrapNetlink("deleting bridge "+m.cfg.Bridge, err)
	}
	m.log.Info("removed bridge", "bridge", m.cfg.Bridge)
	return nil
}
