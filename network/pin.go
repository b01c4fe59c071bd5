package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"github.com/volant-sh/volant/errdefs"
)

// pinChain is the chain of the bridge-family table (named Config.Table,
// like the inet one) that holds the pins.
const pinChain = "pin"

// PinTap makes the bridge drop every frame from the tap that does not come
// from the guest's own MAC and address: Ethernet frames from another MAC,
// IPv4 packets from another address and ARP that claims another address.
// Without it, a guest could forge a neighbour's address, and everything
// that tells guests apart by source address (the egress resolver and
// proxy) would take it for the neighbour. The pins live in a table of the
// bridge family; PinTap replaces any pin the tap had, so it can run again.
func (m *Manager) PinTap(ctx context.Context, tap string, mac net.HardwareAddr, ip netip.Addr) error {
	if err := validIfName(tap); err != nil {
		return err
	}
	if len(mac) != 6 || !ip.Is4() {
		return errdefs.Invalid("network: pinning %s: need a 6-byte MAC and an IPv4 address, got %s and %s", tap, mac, ip)
	}
	return m.editPins(ctx, tap, func(c *nftables.Conn, t *nftables.Table, ch *nftables.Chain) {
		for _, r := range pinRules(tap, mac, ip) {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r.exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
		}
	})
}

// UnpinTap removes the tap's pin. A tap without one is not an error.
func (m *Manager) UnpinTap(ctx context.Context, tap string) error {
	if err := validIfName(tap); err != nil {
		return err
	}
	return m.editPins(ctx, tap, nil)
}

// editPins deletes the rules of tap and, with add, adds new ones, in one
// batch, creating the table and chain when missing.
func (m *Manager) editPins(ctx context.Context, tap string, add func(*nftables.Conn, *nftables.Table, *nftables.Chain)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.handleLocked(); err != nil {
		return err
	}
	c, err := m.nft()
	if err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyBridge, Name: m.cfg.Table})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: pinChain, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network: creating nftables table bridge %s: %w", m.cfg.Table, classify(err))
	}
	rules, err := c.GetRules(t, ch)
	if err != nil {
		return fmt.Errorf("network: listing pins: %w", classify(err))
	}
	for _, r := range rules {
		if comment, _ := userdata.GetString(r.UserData, userdata.TypeComment); strings.HasPrefix(comment, "iifname "+tap+" ") {
			if err := c.DelRule(r); err != nil {
				return err
			}
		}
	}
	if add != nil {
		add(c, t, ch)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network: writing the pins of %s: %w", tap, classify(err))
	}
	return nil
}

// removePins deletes the bridge-family table (Teardown).
func (m *Manager) removePins() error {
	c, err := m.nft()
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyBridge, Name: m.cfg.Table}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network: deleting nftables table bridge %s: %w", m.cfg.Table, classify(err))
	}
	return nil
}

// pinRules are the rules of one tap's pin.
func pinRules(tap string, mac net.HardwareAddr, ip netip.Addr) []ruleSpec {
	a := ip.As4()
	return []ruleSpec{
		rule(fmt.Sprintf("iifname %s ether saddr != %s drop", tap, mac),
			iifname(tap),
			[]expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(mac)},
			}, verdict(expr.VerdictDrop)),
		rule(fmt.Sprintf("iifname %s ether type ip ip saddr != %s drop", tap, ip),
			iifname(tap), etherType(0x0800),
			[]expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: a[:]},
			}, verdict(expr.VerdictDrop)),
		rule(fmt.Sprintf("iifname %s ether type arp arp saddr ip != %s drop", tap, ip),
			iifname(tap), etherType(0x0806),
			[]expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: 4},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: a[:]},
			}, verdict(expr.VerdictDrop)),
	}
}

// etherType matches the Ethernet type of a frame.
func etherType(t uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(t)},
	}
}
