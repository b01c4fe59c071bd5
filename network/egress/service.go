package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/volant-sh/volant/errdefs"
)

// DefaultProxyPort is the TCP port on the gateway the proxy listens on.
const DefaultProxyPort = 3129

// Config describes a Service. Gateway and StateDir are required.
type Config struct {
	// Gateway is the bridge's address: the resolver listens on its port
	// 53 (UDP and TCP), the proxy on ProxyPort.
	Gateway netip.Addr
	// ProxyPort is the proxy's port; default DefaultProxyPort.
	ProxyPort uint16
	// Subnet is the guest subnet; the proxy never connects into it.
	Subnet netip.Prefix
	// Upstreams are the resolvers allowed names are asked ("addr:port");
	// default the nameservers of /etc/resolv.conf.
	Upstreams []string
	// StateDir holds the CA (egress-ca.pem, egress-ca-key.pem, 0600).
	StateDir string
	// ExtraRootsFile is a PEM bundle trusted for upstream certificates on
	// top of the system roots (for private CAs, and tests).
	ExtraRootsFile string
	// OnDeny, when set, is told of every refused query and connection.
	OnDeny func(Denial)
	// Logger gets one line per denial; nil discards.
	Logger *slog.Logger
}

// Denial is a refused query or connection.
type Denial struct {
	Sandbox string `json:"sandbox"`
	// Kind is "dns" or "connect".
	Kind string `json:"kind"`
	// Name is the name asked for or sent (SNI, Host), if any.
	Name string `json:"name,omitempty"`
	// Addr is the destination address of a connection.
	Addr string `json:"addr,omitempty"`
	// Reason says why, in a few words.
	Reason string `json:"reason"`
	// Suppressed counts the denials of this sandbox not reported since
	// the previous report.
	Suppressed int `json:"suppressed,omitempty"`
}

// Option changes how New builds a Service.
type Option func(*Service)

// WithNetNS makes the Service listen and dial inside ns instead of the
// current namespace (tests use namespaces of their own). The caller keeps
// ns open for the Service's life.
func WithNetNS(ns netns.NsHandle) Option { return func(s *Service) { s.ns = ns } }

// Service is the resolver and the proxy of one bridge.
type Service struct {
	cfg   Config
	log   *slog.Logger
	ns    netns.NsHandle
	ca    *CA
	roots *x509.CertPool

	mu     sync.RWMutex
	guests map[netip.Addr]*entry
	// stats outlives an address: counters are kept per sandbox.
	stats map[string]*counters

	udp   *dns.Server
	tcp   *dns.Server
	proxy net.Listener
	wg    sync.WaitGroup
	once  sync.Once
	life  context.Context
	stop  context.CancelFunc
	certs certCache

	denyMu   sync.Mutex
	denyLast map[string]denyMark

	localMu sync.Mutex
	local   []netip.Addr
	localAt time.Time
}

// New checks cfg, loads or creates the CA and starts the resolver and the
// proxy. Close stops them.
func New(cfg Config, opts ...Option) (*Service, error) {
	if !cfg.Gateway.Is4() {
		return nil, errdefs.Invalid("egress: gateway %s is not an IPv4 address", cfg.Gateway)
	}
	if cfg.StateDir == "" {
		return nil, errdefs.Invalid("egress: a state directory is required for the CA")
	}
	if cfg.ProxyPort == 0 {
		cfg.ProxyPort = DefaultProxyPort
	}
	if len(cfg.Upstreams) == 0 {
		ups, err := SystemResolvers("/etc/resolv.conf")
		if err != nil {
			return nil, err
		}
		cfg.Upstreams = ups
	}
	s := &Service{cfg: cfg, log: cfg.Logger, ns: netns.None(), guests: map[netip.Addr]*entry{}, stats: map[string]*counters{}, denyLast: map[string]denyMark{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, o := range opts {
		o(s)
	}
	ca, err := LoadOrCreateCA(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	s.ca = ca
	s.roots, err = x509.SystemCertPool()
	if err != nil || s.roots == nil {
		s.roots = x509.NewCertPool()
	}
	if cfg.ExtraRootsFile != "" {
		pem, err := os.ReadFile(cfg.ExtraRootsFile)
		if err != nil {
			return nil, errdefs.Invalid("egress: reading extra CA bundle: %v", err)
		}
		if !s.roots.AppendCertsFromPEM(pem) {
			return nil, errdefs.Invalid("egress: %s holds no PEM certificate", cfg.ExtraRootsFile)
		}
	}
	s.life, s.stop = context.WithCancel(context.Background())
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// start opens the listeners (inside the namespace) and serves them.
func (s *Service) start() error {
	dnsAddr := netip.AddrPortFrom(s.cfg.Gateway, 53).String()
	proxyAddr := netip.AddrPortFrom(s.cfg.Gateway, s.cfg.ProxyPort).String()
	var pc net.PacketConn
	var tl, pl net.Listener
	err := s.inNS(func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", dnsAddr); err != nil {
			return err
		}
		if tl, err = net.Listen("tcp4", dnsAddr); err != nil {
			return err
		}
		pl, err = net.Listen("tcp4", proxyAddr)
		return err
	})
	if err != nil {
		for _, c := range []interface{ Close() error }{pc, tl, pl} {
			if c != nil && !isNilCloser(c) {
				_ = c.Close()
			}
		}
		return errdefs.Unavailable("egress: listening on %s: %v; is the bridge up and the port free?", s.cfg.Gateway, err)
	}
	h := dns.HandlerFunc(s.serveDNS)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: tl, Handler: h}
	s.proxy = pl
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); _ = srv.ActivateAndServe() }()
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.acceptLoop(pl) }()
	return nil
}

func isNilCloser(c interface{ Close() error }) bool {
	switch v := c.(type) {
	case net.PacketConn:
		return v == nil
	case net.Listener:
		return v == nil
	}
	return false
}

// Close stops the resolver and the proxy and waits for them. Idempotent.
func (s *Service) Close() error {
	s.once.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if srv != nil {
				_ = srv.Shutdown()
			}
		}
		if s.proxy != nil {
			_ = s.proxy.Close()
		}
		s.wg.Wait()
	})
	return nil
}

// CACertPEM is the CA certificate guests must trust (PEM).
func (s *Service) CACertPEM() []byte { return s.ca.CertPEM() }

// ProxyPort is the port the proxy listens on.
func (s *Service) ProxyPort() uint16 { return s.cfg.ProxyPort }

// Attach makes the Service answer the guest at addr by g, replacing what it
// held for that address. Connections already open keep going; new ones
// and new queries follow g.
func (s *Service) Attach(addr netip.Addr, g Guest) error {
	if g.Rules == nil {
		return errdefs.Invalid("egress: attaching %s without rules", g.Sandbox)
	}
	addr = addr.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.guests[addr]; ok && old.guest.Sandbox == g.Sandbox {
		// Same sandbox, new policy: keep what the resolver told it.
		ne := &entry{guest: g}
		old.mu.Lock()
		ne.resolved = old.resolved
		old.mu.Unlock()
		s.guests[addr] = ne
	} else {
		s.guests[addr] = &entry{guest: g}
	}
	if s.stats[g.Sandbox] == nil {
		s.stats[g.Sandbox] = &counters{}
	}
	return nil
}

// Detach forgets the guest at addr. Its counters stay until Forget.
func (s *Service) Detach(addr netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.guests, addr.Unmap())
}

// Forget drops the counters of a sandbox that is gone.
func (s *Service) Forget(sandbox string) {
	s.mu.Lock()
	delete(s.stats, sandbox)
	s.mu.Unlock()
	s.denyMu.Lock()
	delete(s.denyLast, sandbox)
	s.denyMu.Unlock()
}

// Stats returns the counters of a sandbox (zero if it has none).
func (s *Service) Stats(sandbox string) Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.stats[sandbox]; c != nil {
		return c.snapshot()
	}
	return Stats{}
}

// AllStats returns the counters of every sandbox, for /metrics.
func (s *Service) AllStats() map[string]Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]Stats, len(s.stats))
	for id, c := range s.stats {
		out[id] = c.snapshot()
	}
	return out
}

// lookup returns the entry of a source address and its counters.
func (s *Service) lookup(a netip.Addr) (*entry, *counters) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.guests[a.Unmap()]
	if e == nil {
		return nil, nil
	}
	return e, s.stats[e.guest.Sandbox]
}

// denyEvery is the least time between two reported denials of one
// sandbox; the counters count every one, and the next report says how many
// were left out.
const denyEvery = time.Second

// deny logs and reports a denial, at most once per denyEvery per sandbox
// so a guest in a retry loop cannot flood the log or the event log. The
// secret values are never part of it.
func (s *Service) deny(d Denial) {
	s.denyMu.Lock()
	last := s.denyLast[d.Sandbox]
	now := time.Now()
	if now.Sub(last.at) < denyEvery {
		last.skipped++
		s.denyLast[d.Sandbox] = last
		s.denyMu.Unlock()
		return
	}
	d.Suppressed = last.skipped
	s.denyLast[d.Sandbox] = denyMark{at: now}
	s.denyMu.Unlock()
	s.log.Info("egress denied", "sandbox", d.Sandbox, "kind", d.Kind, "name", d.Name, "addr", d.Addr, "reason", d.Reason, "suppressed", d.Suppressed)
	if s.cfg.OnDeny != nil {
		s.cfg.OnDeny(d)
	}
}

type denyMark struct {
	at      time.Time
	skipped int
}

// dial connects to addr from the Service's namespace.
func (s *Service) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := s.inNS(func() error {
		var err error
		d := net.Dialer{Timeout: 15 * time.Second}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// tlsClientConfig verifies upstream certificates against the system roots
// and the extra bundle.
func (s *Service) tlsClientConfig(name string) *tls.Config {
	return &tls.Config{ServerName: name, RootCAs: s.roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
}

// SystemResolvers reads the nameservers of a resolv.conf as "addr:53".
// Loopback resolvers (systemd-resolved's stub) are kept: the daemon runs
// on the host and reaches them.
func SystemResolvers(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, errdefs.Unavailable("egress: reading resolvers from %s: %v; configure the upstream resolvers", path, err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, errdefs.Unavailable("egress: %s lists no nameserver; configure the upstream resolvers", path)
	}
	return out, nil
}

// inNS runs fn inside the Service's namespace (see network.Manager).
func (s *Service) inNS(fn func() error) error {
	if !s.ns.IsOpen() {
		return fn()
	}
	return runInNS(s.ns, fn)
}

// hostName strips a port and brackets from a Host header value.
func hostName(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return NormalizeName(strings.Trim(h, "[]"))
}
