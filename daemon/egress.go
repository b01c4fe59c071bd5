package daemon

import (
	"fmt"
	"net/netip"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/network/egress"
	"github.com/volant-sh/volant/sandbox"
)

// EgressConfig is the operator's egress setup (the "egress" object of the
// config file).
type EgressConfig struct {
	// Enabled turns enforcement on for bridged sandboxes: DNS through
	// volantd's resolver, TCP through its proxy, everything else refused.
	// Off, bridged sandboxes have plain NAT (when nat is on).
	Enabled bool `json:"enabled"`
	// ProxyPort is the proxy's port on the gateway; default 3129.
	ProxyPort uint16 `json:"proxy_port,omitempty"`
	// Upstreams are the resolvers allowed names are asked ("addr:port");
	// default the nameservers of the host's /etc/resolv.conf.
	Upstreams []string `json:"upstreams,omitempty"`
	// ExtraCAFile is a PEM bundle the proxy trusts for upstream
	// certificates, on top of the system roots.
	ExtraCAFile string `json:"extra_ca_file,omitempty"`
	// Default is the policy of sandboxes created without one.
	Default *sandbox.EgressPolicy `json:"default,omitempty"`
	// Ceiling bounds every sandbox: what it forbids, no sandbox reaches.
	Ceiling *sandbox.EgressPolicy `json:"ceiling,omitempty"`
}

// validate reports what is wrong with the egress setup.
func (e EgressConfig) validate(bridge bool) error {
	if !e.Enabled {
		if e.Default != nil || e.Ceiling != nil {
			return errdefs.Invalid("egress: a default or ceiling policy needs egress enabled (\"egress\": {\"enabled\": true})")
		}
		return nil
	}
	if !bridge {
		return errdefs.Invalid("egress: enforcement needs bridge networking (bridge_network true)")
	}
	for what, p := range map[string]*sandbox.EgressPolicy{"default": e.Default, "ceiling": e.Ceiling} {
		if p != nil {
			if err := p.Validate(); err != nil {
				return fmt.Errorf("egress %s: %w", what, err)
			}
		}
	}
	for _, u := range e.Upstreams {
		if _, err := netip.ParseAddrPort(u); err != nil {
			return errdefs.Invalid("egress upstream %q: use addr:port, for example 192.0.2.53:53", u)
		}
	}
	return nil
}

// startEgress starts the resolver and proxy on the gateway and hands the
// engine its side. Denials become events of their sandbox.
func (d *Daemon) startEgress(gateway netip.Prefix, subnet netip.Prefix, mcfg *sandbox.Config) error {
	e := d.cfg.Egress
	svc, err := egress.New(egress.Config{
		Gateway: gateway.Addr(), ProxyPort: e.proxyPort(), Subnet: subnet, Upstreams: e.Upstreams,
		StateDir: d.cfg.StateDir, ExtraRootsFile: e.ExtraCAFile, Logger: d.log,
		OnDeny: func(den egress.Denial) {
			if d.mgr != nil {
				d.mgr.EgressDenied(den)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("starting egress enforcement: %w", err)
	}
	d.egress = svc
	mcfg.Egress = sandbox.EgressConfig{Enforcer: svc, Default: e.Default, Ceiling: e.Ceiling}
	d.log.Info("egress enforcement on", "resolver", gateway.Addr().String()+":53", "proxy_port", svc.ProxyPort())
	return nil
}

// proxyPort is ProxyPort or its default.
func (e EgressConfig) proxyPort() uint16 {
	if e.ProxyPort == 0 {
		return egress.DefaultProxyPort
	}
	return e.ProxyPort
}
