// Package egress enforces where a bridged sandbox may connect, on the host:
// a DNS resolver on the bridge gateway that answers each guest by its own
// policy, and a transparent TCP proxy (fed by the nftables redirect the
// network package installs) that reads the TLS SNI or HTTP Host of every
// outbound connection, checks it against the policy and against the
// addresses the resolver handed that guest for the name, and only then
// connects upstream. For hosts a sandbox holds secrets for, the proxy
// terminates TLS with a per-daemon CA, verifies the real upstream itself and
// swaps the placeholders the guest was given for the secret values in the
// request headers, so the values never enter the guest.
package egress

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// The values of Policy.Default.
const (
	// Allow lets through everything no deny rule names.
	Allow = "allow"
	// Deny lets through only what an allow rule names.
	Deny = "deny"
)

// Policy says where a sandbox may connect. Rules are domain names
// ("pypi.org", which matches that name only), suffix globs
// ("*.githubusercontent.com", which matches every name below it but not the
// name itself) and IPv4 CIDRs ("203.0.113.0/24", or a single address).
// A deny rule wins over an allow rule; what no rule names gets Default.
//
// Names are checked where a connection names its host (DNS queries, TLS
// SNI, HTTP Host). A connection to a raw address, with no name, passes only
// by a CIDR rule, or under default allow when no CIDR deny rule names it.
type Policy struct {
	// Default is "deny" or "allow"; empty means allow.
	Default string `json:"default,omitempty"`
	// Allow lists names, suffix globs and CIDRs that may be reached.
	Allow []string `json:"allow,omitempty"`
	// Deny lists names, suffix globs and CIDRs that may not be reached.
	Deny []string `json:"deny,omitempty"`
}

// MaxRules bounds the rules of one list.
const MaxRules = 1024

// Validate reports the first thing wrong with p, saying how to fix it.
func (p Policy) Validate() error {
	_, err := compileOne(p)
	return err
}

// Restrictive reports whether p forbids anything at all.
func (p Policy) Restrictive() bool {
	return p.Default == Deny || len(p.Deny) > 0
}

// Normalize returns p with its rules lowercased, deduplicated and sorted
// and Default filled in, so equal policies compare equal.
func (p Policy) Normalize() Policy {
	if p.Default == "" {
		p.Default = Allow
	}
	norm := func(list []string) []string {
		if len(list) == 0 {
			return nil
		}
		out := make([]string, 0, len(list))
		for _, r := range list {
			out = append(out, strings.TrimSuffix(strings.ToLower(strings.TrimSpace(r)), "."))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	p.Allow, p.Deny = norm(p.Allow), norm(p.Deny)
	return p
}

// rule is one compiled rule.
type rule struct {
	name   string       // exact name, or the suffix (".example.com") when glob
	glob   bool         // name is a suffix
	prefix netip.Prefix // valid for CIDR rules
}

func (r rule) matchName(n string) bool {
	if r.prefix.IsValid() {
		return false
	}
	if r.glob {
		return strings.HasSuffix(n, r.name)
	}
	return n == r.name
}

// level is one compiled policy.
type level struct {
	allowDefault bool
	allow, deny  []rule
}

// Rules is a compiled policy, optionally under an operator's ceiling: a
// connection passes only when the sandbox's policy and every ceiling above
// it let it pass. Rules are immutable; build new ones to change a policy.
type Rules struct {
	levels []level
}

// Compile checks p and compiles it under the ceilings given (outermost
// first). A nil ceiling is skipped.
func Compile(p Policy, ceilings ...*Policy) (*Rules, error) {
	var r Rules
	for _, c := range ceilings {
		if c == nil {
			continue
		}
		l, err := compileOne(*c)
		if err != nil {
			return nil, fmt.Errorf("operator egress ceiling: %w", err)
		}
		r.levels = append(r.levels, l)
	}
	l, err := compileOne(p)
	if err != nil {
		return nil, err
	}
	r.levels = append(r.levels, l)
	return &r, nil
}

// MustCompile is Compile for tests and constants; it panics on error.
func MustCompile(p Policy, ceilings ...*Policy) *Rules {
	r, err := Compile(p, ceilings...)
	if err != nil {
		panic(err)
	}
	return r
}

func compileOne(p Policy) (level, error) {
	var l level
	switch p.Default {
	case "", Allow:
		l.allowDefault = true
	case Deny:
	default:
		return l, errdefs.Invalid("egress default %q: use \"deny\" or \"allow\"", p.Default)
	}
	for _, list := range []struct {
		what  string
		rules []string
		out   *[]rule
	}{{"allow", p.Allow, &l.allow}, {"deny", p.Deny, &l.deny}} {
		if len(list.rules) > MaxRules {
			return l, errdefs.Invalid("egress %s: at most %d rules, got %d", list.what, MaxRules, len(list.rules))
		}
		for _, s := range list.rules {
			r, err := parseRule(s)
			if err != nil {
				return l, errdefs.Invalid("egress %s rule %q: %v", list.what, s, err)
			}
			*list.out = append(*list.out, r)
		}
	}
	return l, nil
}

// parseRule reads one rule: a CIDR or address, "*.suffix", or a name.
func parseRule(s string) (rule, error) {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if s == "" {
		return rule{}, fmt.Errorf("empty rule; give a domain name, a *.suffix glob or an IPv4 CIDR")
	}
	if strings.ContainsAny(s, "/:") || isAllDigitsAndDots(s) {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return rule{}, fmt.Errorf("not a CIDR or address (%v); write it like 203.0.113.0/24", err)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if !pfx.Addr().Is4() {
			return rule{}, fmt.Errorf("IPv6 is not supported: guests have no IPv6 egress; use IPv4 CIDRs")
		}
		if pfx != pfx.Masked() {
			return rule{}, fmt.Errorf("host bits set; use %s", pfx.Masked())
		}
		return rule{prefix: pfx}, nil
	}
	glob := false
	name := s
	if strings.HasPrefix(s, "*.") {
		glob, name = true, s[2:]
	}
	if err := checkName(name); err != nil {
		return rule{}, err
	}
	if glob {
		return rule{name: "." + name, glob: true}, nil
	}
	return rule{name: name}, nil
}

func isAllDigitsAndDots(s string) bool {
	for _, c := range s {
		if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkName reports why s is not a DNS name a rule can hold.
func checkName(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("name longer than 253 bytes")
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("labels are 1-63 characters; only a leading \"*.\" may be a wildcard")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not allowed in a name; use letters, digits, '-' and a leading \"*.\"", c)
			}
		}
	}
	return nil
}

// NormalizeName lowercases a host name and drops a trailing dot and a port.
func NormalizeName(n string) string {
	n = strings.ToLower(strings.TrimSpace(n))
	if h, _, ok := strings.Cut(n, ":"); ok && !strings.Contains(n, "]") {
		n = h
	}
	return strings.TrimSuffix(n, ".")
}

// AllowName reports whether every level lets the name through.
func (r *Rules) AllowName(name string) bool {
	name = NormalizeName(name)
	if name == "" {
		return false
	}
	for _, l := range r.levels {
		if !l.allowName(name) {
			return false
		}
	}
	return true
}

func (l level) allowName(n string) bool {
	for _, d := range l.deny {
		if d.matchName(n) {
			return false
		}
	}
	for _, a := range l.allow {
		if a.matchName(n) {
			return true
		}
	}
	return l.allowDefault
}

// AllowAddr reports whether every level lets a connection to the raw
// address a through: by a CIDR allow rule, or by default allow with no
// CIDR deny rule naming it.
func (r *Rules) AllowAddr(a netip.Addr) bool {
	a = a.Unmap()
	for _, l := range r.levels {
		if !l.allowAddr(a) {
			return false
		}
	}
	return true
}

func (l level) allowAddr(a netip.Addr) bool {
	for _, d := range l.deny {
		if d.prefix.IsValid() && d.prefix.Contains(a) {
			return false
		}
	}
	for _, x := range l.allow {
		if x.prefix.IsValid() && x.prefix.Contains(a) {
			return true
		}
	}
	return l.allowDefault
}

// ExplicitAddr reports whether a CIDR allow rule of the innermost level
// names a (and every level lets it through): such connections are passed
// on without reading their first bytes.
func (r *Rules) ExplicitAddr(a netip.Addr) bool {
	a = a.Unmap()
	inner := r.levels[len(r.levels)-1]
	named := false
	for _, x := range inner.allow {
		named = named || (x.prefix.IsValid() && x.prefix.Contains(a))
	}
	return named && r.AllowAddr(a)
}
