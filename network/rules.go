package network

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// chainSpec is one base chain of Volant's table and its rules, in order.
type chainSpec struct {
	name  string
	typ   nftables.ChainType
	hook  *nftables.ChainHook
	prio  *nftables.ChainPriority
	rules []ruleSpec
}

// ruleSpec is one rule: what it means in nft syntax (stored as the rule's
// comment, so `nft list table inet volant` explains itself) and its
// expressions.
type ruleSpec struct {
	comment string
	exprs   []expr.Any
}

// buildRuleset returns the chains of Volant's table for cfg (defaults
// filled in). It is pure: the same Config always gives the same ruleset.
//
// Every chain's policy is accept, so the table only ever removes traffic
// that involves the bridge; everything else is left to the host's own
// rules. A drop here is final whatever other tables say.
func buildRuleset(cfg Config) []chainSpec {
	br := cfg.Bridge
	subnet := cfg.Subnet.Masked()

	// input: guests may reach the host itself only for replies and the
	// services the Config allows; protected ports are refused first.
	var input []ruleSpec
	for _, p := range cfg.ProtectedPorts {
		for _, proto := range []l4{tcp, udp} {
			input = append(input,
				rule(fmt.Sprintf("iifname %s %s dport %d drop", br, proto, p),
					iifname(br), l4proto(proto), dport(p), verdict(expr.VerdictDrop)),
				// The host's own connections to its gateway address come
				// from that address, inside the subnet, but over lo.
				rule(fmt.Sprintf("iifname != lo ip saddr %s %s dport %d drop", subnet, proto, p),
					iifnameNot("lo"), saddrIn(subnet), l4proto(proto), dport(p), verdict(expr.VerdictDrop)),
			)
		}
	}
	egress := cfg.EgressProxyPort != 0
	if egress {
		input = append(input, rejectIPv6(br)...)
	}
	input = append(input,
		rule(fmt.Sprintf("iifname %s ct state established,related accept", br),
			iifname(br), ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept)),
		rule(fmt.Sprintf("iifname %s ct state invalid drop", br),
			iifname(br), ctState(expr.CtStateBitINVALID), verdict(expr.VerdictDrop)),
	)
	if cfg.AllowDHCP {
		input = append(input, rule(fmt.Sprintf("iifname %s udp dport 67 accept", br),
			iifname(br), l4proto(udp), dport(67), verdict(expr.VerdictAccept)))
	}
	if cfg.AllowDNS {
		for _, proto := range []l4{udp, tcp} {
			input = append(input, rule(fmt.Sprintf("iifname %s %s dport 53 accept", br, proto),
				iifname(br), l4proto(proto), dport(53), verdict(expr.VerdictAccept)))
		}
	}
	if cfg.AllowPing {
		input = append(input, rule(fmt.Sprintf("iifname %s icmp type echo-request accept", br),
			iifname(br), nfproto(unix.NFPROTO_IPV4), l4proto(icmp), icmpType(8), verdict(expr.VerdictAccept)))
	}
	if egress {
		input = append(input, rule(fmt.Sprintf("iifname %s tcp dport %d accept", br, cfg.EgressProxyPort),
			iifname(br), l4proto(tcp), dport(cfg.EgressProxyPort), verdict(expr.VerdictAccept)))
		input = append(input, rejectAll(br)...)
	} else {
		input = append(input, rule(fmt.Sprintf("iifname %s drop", br),
			iifname(br), verdict(expr.VerdictDrop)))
	}

	// forward: traffic between guests (routed, or bridged when
	// br_netfilter hands bridged frames to the inet hooks) is dropped
	// unless allowed; with NAT, guests may start connections out of the
	// subnet and get the replies; nobody outside may start one in.
	between := expr.VerdictDrop
	betweenWord := "drop"
	if cfg.AllowGuestToGuest {
		between, betweenWord = expr.VerdictAccept, "accept"
	}
	forward := []ruleSpec{
		rule(fmt.Sprintf("iifname %s oifname %s %s", br, br, betweenWord),
			iifname(br), oifname(br, expr.CmpOpEq), verdict(between)),
	}
	switch {
	case egress:
		// TCP out was redirected to the proxy before routing; what
		// reaches forward from a guest is everything else, refused.
		forward = append(forward, rejectAll(br)...)
	case cfg.NAT:
		forward = append(forward, rule(fmt.Sprintf("iifname %s ip saddr %s accept", br, subnet),
			iifname(br), saddrIn(subnet), verdict(expr.VerdictAccept)))
	}
	forward = append(forward,
		rule(fmt.Sprintf("iifname %s drop", br),
			iifname(br), verdict(expr.VerdictDrop)),
		rule(fmt.Sprintf("oifname %s ct state established,related accept", br),
			oifname(br, expr.CmpOpEq), ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept)),
		rule(fmt.Sprintf("oifname %s drop", br),
			oifname(br, expr.CmpOpEq), verdict(expr.VerdictDrop)),
	)

	var chains []chainSpec
	if egress {
		chains = append(chains, chainSpec{
			name: "prerouting", typ: nftables.ChainTypeNAT, hook: nftables.ChainHookPrerouting, prio: nftables.ChainPriorityNATDest,
			rules: []ruleSpec{
				rule(fmt.Sprintf("iifname %s ip daddr != %s tcp redirect to :%d", br, subnet, cfg.EgressProxyPort),
					iifname(br), daddrNotIn(subnet), l4proto(tcp), redirectTo(cfg.EgressProxyPort)),
			},
		})
	}
	chains = append(chains, []chainSpec{
		{name: "input", typ: nftables.ChainTypeFilter, hook: nftables.ChainHookInput, prio: nftables.ChainPriorityFilter, rules: input},
		{name: "forward", typ: nftables.ChainTypeFilter, hook: nftables.ChainHookForward, prio: nftables.ChainPriorityFilter, rules: forward},
	}...)
	if cfg.NAT {
		chains = append(chains, chainSpec{
			name: "postrouting", typ: nftables.ChainTypeNAT, hook: nftables.ChainHookPostrouting, prio: nftables.ChainPriorityNATSource,
			rules: []ruleSpec{
				rule(fmt.Sprintf("ip saddr %s oifname != %s masquerade", subnet, br),
					saddrIn(subnet), oifname(br, expr.CmpOpNeq), []expr.Any{&expr.Masq{}}),
			},
		})
	}
	return chains
}

// rule joins expression groups into one rule.
func rule(comment string, parts ...[]expr.Any) ruleSpec {
	var all []expr.Any
	for _, p := range parts {
		all = append(all, p...)
	}
	return ruleSpec{comment: comment, exprs: all}
}

// l4 is a transport protocol number.
type l4 byte

const (
	icmp l4 = unix.IPPROTO_ICMP
	tcp  l4 = unix.IPPROTO_TCP
	udp  l4 = unix.IPPROTO_UDP
)

func (p l4) String() string {
	switch p {
	case tcp:
		return "tcp"
	case udp:
		return "udp"
	case icmp:
		return "icmp"
	}
	return fmt.Sprintf("l4proto %d", byte(p))
}

// ifnameData pads an interface name the way nft does (IFNAMSIZ bytes).
func ifnameData(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func iifname(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameData(name)},
	}
}

func iifnameNot(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifnameData(name)},
	}
}

func oifname(name string, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifnameData(name)},
	}
}

func nfproto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func l4proto(p l4) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(p)}},
	}
}

// dport matches the destination port of a TCP or UDP header; put l4proto first.
func dport(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// icmpType matches the ICMP type; put l4proto icmp first.
func icmpType(t byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{t}},
	}
}

// saddrIn matches IPv4 packets whose source address is inside p.
func saddrIn(p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	network := p.Masked().Addr().As4()
	return append(nfproto(unix.NFPROTO_IPV4),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: network[:]},
	)
}

// ctState matches packets whose conntrack state has any of bits.
func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func verdict(k expr.VerdictKind) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: k}}
}

// rejectIPv6 refuses every IPv6 packet from the bridge: guests have no
// IPv6 egress, and a refusal is quicker for them than a timeout.
func rejectIPv6(br string) []ruleSpec {
	return []ruleSpec{
		rule(fmt.Sprintf("iifname %s meta nfproto ipv6 reject with icmpx admin-prohibited", br),
			iifname(br), nfproto(unix.NFPROTO_IPV6), rejectICMPX()),
	}
}

// rejectAll refuses whatever is left from the bridge: TCP with a reset,
// the rest with an ICMP error.
func rejectAll(br string) []ruleSpec {
	return []ruleSpec{
		rule(fmt.Sprintf("iifname %s meta l4proto tcp reject with tcp reset", br),
			iifname(br), l4proto(tcp), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}),
		rule(fmt.Sprintf("iifname %s reject with icmpx admin-prohibited", br),
			iifname(br), rejectICMPX()),
	}
}

func rejectICMPX() []expr.Any {
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}}
}

// daddrNotIn matches IPv4 packets whose destination is outside p.
func daddrNotIn(p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	network := p.Masked().Addr().As4()
	return append(nfproto(unix.NFPROTO_IPV4),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: network[:]},
	)
}

// redirectTo redirects to port on the address the packet came in on.
func redirectTo(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		// The kernel reports the range and NF_NAT_RANGE_PROTO_SPECIFIED back;
		// writing them too keeps the table comparable.
		&expr.Redir{RegisterProtoMin: 1, RegisterProtoMax: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED},
	}
}
