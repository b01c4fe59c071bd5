package egress

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Secret is one value the proxy puts in place of its placeholder, on
// connections to its hosts only.
type Secret struct {
	// Placeholder is what the guest holds instead of the value.
	Placeholder string
	// Value is the real secret. It never leaves the host.
	Value string
	// Hosts are exact names or "*.suffix" globs.
	Hosts []string
	// InBody also replaces the placeholder in request bodies of up to
	// MaxBodySubstitution bytes (headers are always substituted).
	InBody bool
}

// MaxBodySubstitution is the largest request body placeholders are
// replaced in; larger bodies are relayed as they are.
const MaxBodySubstitution = 1 << 20

// String hides the value, so a Secret printed by accident leaks nothing.
func (s Secret) String() string { return "secret(" + s.Placeholder + ")" }

// matchesHost reports whether the secret applies to host.
func (s Secret) matchesHost(host string) bool {
	for _, h := range s.Hosts {
		h = NormalizeName(h)
		if h == host || (len(h) > 2 && h[:2] == "*." && len(host) > len(h)-1 && host[len(host)-len(h)+1:] == h[1:]) {
			return true
		}
	}
	return false
}

// Guest is what the Service knows of one sandbox, keyed by its address.
type Guest struct {
	// Sandbox is the sandbox's id, for logs, events and counters.
	Sandbox string
	// Rules is its compiled policy.
	Rules *Rules
	// Secrets are substituted on connections to their hosts.
	Secrets []Secret
}

// Stats counts what the Service did for one sandbox.
type Stats struct {
	// DNSAllowed and DNSDenied count queries answered and refused.
	DNSAllowed uint64 `json:"dns_allowed"`
	DNSDenied  uint64 `json:"dns_denied"`
	// ConnAllowed and ConnDenied count proxied connections.
	ConnAllowed uint64 `json:"conn_allowed"`
	ConnDenied  uint64 `json:"conn_denied"`
	// SecretsInjected counts requests that had a placeholder replaced.
	SecretsInjected uint64 `json:"secrets_injected"`
}

type counters struct {
	dnsAllowed, dnsDenied, connAllowed, connDenied, injected atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		DNSAllowed: c.dnsAllowed.Load(), DNSDenied: c.dnsDenied.Load(),
		ConnAllowed: c.connAllowed.Load(), ConnDenied: c.connDenied.Load(),
		SecretsInjected: c.injected.Load(),
	}
}

// entry is a guest and what the resolver told it.
type entry struct {
	guest Guest

	mu sync.Mutex
	// resolved maps a name to the addresses the resolver answered for
	// it, each with when it stops counting.
	resolved map[string]map[netip.Addr]time.Time
}

// remember records addresses answered for name, valid until until.
func (e *entry) remember(name string, addrs []netip.Addr, until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.resolved == nil {
		e.resolved = map[string]map[netip.Addr]time.Time{}
	}
	set := e.resolved[name]
	if set == nil {
		set = map[netip.Addr]time.Time{}
		e.resolved[name] = set
	}
	now := time.Now()
	for a, t := range set {
		if now.After(t) {
			delete(set, a)
		}
	}
	for _, a := range addrs {
		set[a.Unmap()] = until
	}
}

// resolvedTo reports whether the resolver answered a for name, lately.
func (e *entry) resolvedTo(name string, a netip.Addr) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.resolved[name][a.Unmap()]
	return ok && time.Now().Before(t)
}
