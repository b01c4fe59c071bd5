package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/network/egress"
	"github.com/volant-sh/volant/store"
)

// EgressPolicy says where a sandbox may connect (see egress.Policy).
type EgressPolicy = egress.Policy

// EgressStats counts what the egress resolver and proxy did for a sandbox.
type EgressStats = egress.Stats

// Egress is the host-side enforcement of egress policies for bridged
// sandboxes. egress.Service implements it.
type Egress interface {
	Attach(addr netip.Addr, g egress.Guest) error
	Detach(addr netip.Addr)
	Forget(sandbox string)
	Stats(sandbox string) egress.Stats
	AllStats() map[string]egress.Stats
	CACertPEM() []byte
}

// TapPinner pins a tap to its guest's MAC and address, so a guest cannot
// pass for another by forging its source address. network.Manager
// implements it; the engine pins taps when egress is enforced.
type TapPinner interface {
	PinTap(ctx context.Context, tap string, mac net.HardwareAddr, ip netip.Addr) error
	UnpinTap(ctx context.Context, tap string) error
}

// EgressConfig is the operator's side of egress policies.
type EgressConfig struct {
	// Enforcer enforces policies; nil means bridged sandboxes have plain
	// NAT and no policy or secret can be given.
	Enforcer Egress
	// Default is the policy of a sandbox created without one; nil means
	// allow everything the ceiling allows.
	Default *EgressPolicy
	// Ceiling bounds every sandbox: a connection passes only when both
	// the sandbox's policy and the ceiling let it pass, so no sandbox can
	// reach what the ceiling forbids.
	Ceiling *EgressPolicy
}

// Where the guest finds the egress CA, and the variables that point
// common TLS stacks at it.
const (
	GuestCABundle = "/etc/ssl/certs/ca-certificates.crt"
	GuestCAFile   = "/etc/volant/egress-ca.pem"
)

// caEnv is added to the environment of bridged sandboxes when egress is
// enforced (unless the caller sets the variable itself).
var caEnv = map[string]string{
	"SSL_CERT_FILE":       GuestCABundle,
	"REQUESTS_CA_BUNDLE":  GuestCABundle,
	"CURL_CA_BUNDLE":      GuestCABundle,
	"NODE_EXTRA_CA_CERTS": GuestCAFile,
}

// SetEgressRequest replaces a sandbox's egress policy.
type SetEgressRequest struct {
	// Sandbox is the id or name.
	Sandbox string `json:"sandbox"`
	// Policy is the new policy; nil means the operator's default.
	Policy *EgressPolicy `json:"egress"`
}

// EgressInfo is a sandbox's egress policy, as given and as enforced, and
// its counters.
type EgressInfo struct {
	Sandbox string `json:"sandbox"`
	// Policy is the sandbox's own policy; nil means the operator's default.
	Policy *EgressPolicy `json:"egress,omitempty"`
	// Effective is what applies before the ceiling: Policy or the default.
	Effective EgressPolicy `json:"effective"`
	// Ceiling is the operator's bound, if any.
	Ceiling *EgressPolicy `json:"ceiling,omitempty"`
	// Enforced says whether the host enforces it (bridge mode on a daemon
	// with egress enforcement).
	Enforced bool        `json:"enforced"`
	Stats    EgressStats `json:"stats"`
}

// checkEgress validates a spec's policy and secrets against its network
// mode and the daemon's setup. spec has its defaults filled in.
func (m *Manager) checkEgress(spec Spec) error {
	if spec.Egress != nil {
		if err := spec.Egress.Validate(); err != nil {
			return err
		}
	}
	if err := validateSecrets(spec); err != nil {
		return err
	}
	return m.checkEgressMode(spec.Network, spec.Egress, len(spec.Secrets) > 0)
}

// checkEgressMode refuses what the network mode cannot enforce.
func (m *Manager) checkEgressMode(mode NetworkMode, p *EgressPolicy, secrets bool) error {
	ec := m.cfg.Egress
	restrictive := p != nil && p.Restrictive()
	if mode != NetworkBridge {
		switch {
		case restrictive:
			return errdefs.Invalid("an egress policy is enforced only for bridge networking; network %q reaches the outside unchecked: use network \"bridge\" or drop the policy", mode)
		case secrets:
			return errdefs.Invalid("secrets are substituted only for bridge networking: use network \"bridge\"")
		case mode == NetworkUser && ec.Ceiling != nil && ec.Ceiling.Restrictive():
			return errdefs.Invalid("the operator restricts egress, which user-mode networking cannot enforce: use network \"bridge\" (or \"none\")")
		}
		return nil
	}
	if ec.Enforcer == nil && (restrictive || secrets) {
		return errdefs.Unavailable("egress enforcement is not enabled on this daemon (it needs bridge networking with egress on); drop the egress policy and secrets, or ask the operator to enable it")
	}
	return nil
}

// guestDNS is the resolver a guest is given: with egress enforcement, a
// bridged guest asks the enforcer's resolver on its gateway (the only DNS
// server it can reach). Empty means none is set.
func (m *Manager) guestDNS(mode NetworkMode, gw string) string {
	if mode != NetworkBridge || m.cfg.Egress.Enforcer == nil {
		return ""
	}
	return gw
}

// rulesOf compiles a sandbox's effective policy under the ceiling.
func (m *Manager) rulesOf(p *EgressPolicy) (*egress.Rules, error) {
	eff := m.effective(p)
	return egress.Compile(eff, m.cfg.Egress.Ceiling)
}

func (m *Manager) effective(p *EgressPolicy) EgressPolicy {
	switch {
	case p != nil:
		return p.Normalize()
	case m.cfg.Egress.Default != nil:
		return m.cfg.Egress.Default.Normalize()
	}
	return EgressPolicy{Default: egress.Allow}
}

// egressEnv adds the CA variables to a bridged sandbox's environment.
func (m *Manager) egressEnv(spec Spec) Spec {
	if spec.Network != NetworkBridge || m.cfg.Egress.Enforcer == nil {
		return spec
	}
	env := make(map[string]string, len(spec.Env)+len(caEnv))
	for k, v := range caEnv {
		env[k] = v
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	spec.Env = env
	return spec
}

// attachEgress tells the enforcer about a running bridged sandbox: its
// address, policy and secrets. Without it the guest reaches nothing (the
// enforcer refuses addresses it does not know), so a failure is logged
// loudly but leaves the sandbox closed, not open.
func (m *Manager) attachEgress(rec store.Sandbox) {
	enf := m.cfg.Egress.Enforcer
	if enf == nil || rec.IP == "" {
		return
	}
	pfx, err := netip.ParsePrefix(rec.IP)
	if err != nil {
		return
	}
	meta := specOf(rec)
	if meta.Spec.Network != NetworkBridge {
		return
	}
	rules, err := m.rulesOf(meta.Spec.Egress)
	if err != nil {
		m.log.Error("egress policy does not compile; the sandbox reaches nothing", "sandbox", rec.ID, "err", err)
		return
	}
	if p, ok := m.cfg.Network.(TapPinner); ok && rec.Tap != "" {
		mac, merr := net.ParseMAC(rec.MAC)
		if merr == nil {
			merr = p.PinTap(m.life, rec.Tap, mac, pfx.Addr())
		}
		if merr != nil {
			m.log.Error("pinning the tap to the guest's address; another guest could pass for this one", "sandbox", rec.ID, "tap", rec.Tap, "err", merr)
		}
	}
	g := egress.Guest{Sandbox: rec.ID, Rules: rules, Secrets: m.loadSecrets(rec.ID, meta.Spec.Secrets)}
	if err := enf.Attach(pfx.Addr(), g); err != nil {
		m.log.Error("attaching egress policy; the sandbox reaches nothing", "sandbox", rec.ID, "err", err)
	}
}

// detachEgress forgets a sandbox's address in the enforcer; with all, its
// counters and inline secrets go too.
func (m *Manager) detachEgress(rec store.Sandbox, all bool) {
	if enf := m.cfg.Egress.Enforcer; enf != nil {
		if pfx, err := netip.ParsePrefix(rec.IP); err == nil {
			enf.Detach(pfx.Addr())
		}
		if p, ok := m.cfg.Network.(TapPinner); ok && rec.Tap != "" {
			if err := p.UnpinTap(m.life, rec.Tap); err != nil {
				m.log.Warn("unpinning tap", "sandbox", rec.ID, "tap", rec.Tap, "err", err)
			}
		}
		if all {
			enf.Forget(rec.ID)
		}
	}
	if all {
		m.dropSecrets(rec.ID)
	}
}

// installCA puts the egress CA into a bridged guest: appended to the
// system bundle (which the default image lacks, so it is created) and
// alone at GuestCAFile, for images whose trust stores are built from a
// directory of certificates. It is idempotent, so a restored guest that
// has it already is left alone.
func (m *Manager) installCA(ctx context.Context, agent *client.Client, spec Spec) error {
	enf := m.cfg.Egress.Enforcer
	if enf == nil || spec.Network != NetworkBridge {
		return nil
	}
	pem := enf.CACertPEM()
	bundle, _ := agent.ReadFileAll(ctx, GuestCABundle, 16<<20)
	if !bytes.Contains(bundle, pem) {
		if len(bundle) > 0 && !bytes.HasSuffix(bundle, []byte("\n")) {
			bundle = append(bundle, '\n')
		}
		bundle = append(bundle, pem...)
		if _, err := agent.WriteFile(ctx, GuestCABundle, bytes.NewReader(bundle), client.WriteOptions{Mode: 0o644, MkdirAll: true}); err != nil {
			return fmt.Errorf("installing the egress CA in the guest: %w", err)
		}
	}
	if _, err := agent.WriteFile(ctx, GuestCAFile, bytes.NewReader(pem), client.WriteOptions{Mode: 0o644, MkdirAll: true}); err != nil {
		return fmt.Errorf("installing the egress CA in the guest: %w", err)
	}
	return nil
}

// SetEgress replaces a sandbox's egress policy. A running sandbox's new
// connections and DNS queries follow it at once; connections already open
// keep going. The policy is stored with the sandbox, so it holds after a
// restart of the sandbox or the daemon.
func (m *Manager) SetEgress(ctx context.Context, req SetEgressRequest) (*EgressInfo, error) {
	if req.Policy != nil {
		if err := req.Policy.Validate(); err != nil {
			return nil, err
		}
	}
	rec, unlock, err := m.lockRecord(ctx, req.Sandbox)
	if err != nil {
		return nil, err
	}
	defer unlock()
	meta := specOf(rec)
	if err := m.checkEgressMode(meta.Spec.Network, req.Policy, len(meta.Spec.Secrets) > 0); err != nil {
		return nil, err
	}
	if _, err := m.rulesOf(req.Policy); err != nil {
		return nil, err
	}
	var p *EgressPolicy
	if req.Policy != nil {
		n := req.Policy.Normalize()
		p = &n
	}
	rec, err = m.update(ctx, rec.ID, func(r *store.Sandbox) error {
		meta := specOf(*r)
		meta.Spec.Egress = p
		setSpec(r, meta)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, live := m.instance(rec.ID); live {
		m.attachEgress(rec)
	}
	m.publish(ctx, EventEgressChanged, rec.ID, map[string]any{"egress": m.effective(p)})
	return m.egressInfo(rec), nil
}

// EgressOf returns a sandbox's egress policy and counters.
func (m *Manager) EgressOf(ctx context.Context, idOrName string) (*EgressInfo, error) {
	rec, err := m.record(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	return m.egressInfo(rec), nil
}

// EgressStats returns the counters of every sandbox the enforcer knows,
// by sandbox id (for metrics). Nil without enforcement.
func (m *Manager) EgressStats() map[string]EgressStats {
	if m.cfg.Egress.Enforcer == nil {
		return nil
	}
	return m.cfg.Egress.Enforcer.AllStats()
}

func (m *Manager) egressInfo(rec store.Sandbox) *EgressInfo {
	spec := specOf(rec).Spec
	info := &EgressInfo{
		Sandbox: rec.ID, Policy: spec.Egress, Effective: m.effective(spec.Egress), Ceiling: m.cfg.Egress.Ceiling,
		Enforced: m.cfg.Egress.Enforcer != nil && spec.Network == NetworkBridge,
	}
	if m.cfg.Egress.Enforcer != nil {
		info.Stats = m.cfg.Egress.Enforcer.Stats(rec.ID)
	}
	return info
}

// Egress events.
const (
	// EventEgressChanged is published when a sandbox's policy changes.
	EventEgressChanged = "sandbox.egress_changed"
	// EventEgressDenied is published when a query or connection is refused.
	EventEgressDenied = "sandbox.egress_denied"
)

// EgressDenied publishes a denial as an event of its sandbox. The daemon
// hands it to the enforcer as its OnDeny.
func (m *Manager) EgressDenied(d egress.Denial) {
	m.publish(m.life, EventEgressDenied, d.Sandbox, d)
}

// forkSpec is the spec clones of a sandbox are created with. It is a copy
// taken now: the clone keeps the egress policy the parent has at the fork
// as its own (later changes to either do not reach the other), and gets no
// secrets: a secret given to one sandbox is not extended to its clones
// (their copies of the parent's placeholders are inert). A clone that needs
// secrets is created from the snapshot with its own.
func forkSpec(s Spec) Spec {
	if s.Egress != nil {
		p := s.Egress.Normalize()
		s.Egress = &p
	}
	if len(s.Secrets) == 0 {
		return s
	}
	env := make(map[string]string, len(s.Env))
	for k, v := range s.Env {
		if _, secret := s.Secrets[k]; !secret {
			env[k] = v
		}
	}
	s.Env, s.Secrets = env, nil
	return s
}
