// Package network owns the host side of guest networking: the bridge guests
// hang off, one persistent tap per sandbox enslaved to it with bridge port
// isolation, and an nftables table that keeps guests away from the host (and
// from each other) and optionally masquerades their traffic to the outside.
//
// Every step is idempotent, because restart recovery runs them again: a
// second EnsureBridge, CreateTap or EnsureFirewall with the same input
// changes nothing, and DeleteTap of a missing tap succeeds.
//
// A Manager works in one network namespace: the current one by default, or
// the one given with WithNetNS (tests use namespaces of their own). It talks
// to that namespace through netlink sockets opened inside it, so no goroutine
// has to switch namespaces except for the few calls the kernel ties to the
// calling thread (creating a tap, writing a sysctl); those run on a locked
// OS thread that is switched back afterwards.
package network

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/volant-sh/volant/errdefs"
)

// Manager sets up and tears down the host side of guest networking in one
// network namespace. Its methods are safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger
	ns  netns.NsHandle // netns.None() means the current namespace

	mu sync.Mutex
	h  *netlink.Handle // nil after Close
}

// Option changes how New builds a Manager.
type Option func(*Manager)

// WithLogger makes the Manager log to l. Nil means discard.
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) {
		if l != nil {
			m.log = l
		}
	}
}

// WithNetNS makes the Manager work in the namespace ns instead of the
// current one. The caller keeps ns open for the Manager's life and closes it
// afterwards.
func WithNetNS(ns netns.NsHandle) Option {
	return func(m *Manager) { m.ns = ns }
}

// New validates cfg, fills in its defaults and returns a Manager. It opens
// a netlink socket in the target namespace; Close releases it.
func New(cfg Config, opts ...Option) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg.withDefaults(),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ns:  netns.None(),
	}
	for _, o := range opts {
		o(m)
	}
	var err error
	if m.ns.IsOpen() {
		m.h, err = netlink.NewHandleAt(m.ns)
	} else {
		m.h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, errdefs.Unavailable("network: opening netlink: %v; volantd needs CAP_NET_ADMIN", err)
	}
	return m, nil
}

// Config returns the configuration the Manager runs with, defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// Close releases the Manager's netlink socket. It leaves the bridge, taps
// and firewall in place (Teardown removes them). Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h != nil {
		m.h.Close()
		m.h = nil
	}
	return nil
}

// handleLocked returns the netlink handle, or an error once the Manager is closed.
func (m *Manager) handleLocked() (*netlink.Handle, error) {
	if m.h == nil {
		return nil, errdefs.Conflict("network: manager is closed")
	}
	return m.h, nil
}

// nft returns an nftables connection to the Manager's namespace.
func (m *Manager) nft() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if m.ns.IsOpen() {
		opts = append(opts, nftables.WithNetNSFd(int(m.ns)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, errdefs.Unavailable("network: opening nftables: %v; volantd needs CAP_NET_ADMIN and nf_tables", err)
	}
	return c, nil
}

// begin takes the lock for one operation, after checking ctx.
func (m *Manager) begin(ctx context.Context) (*netlink.Handle, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	h, err := m.handleLocked()
	if err != nil {
		m.mu.Unlock()
		return nil, nil, err
	}
	return h, m.mu.Unlock, nil
}

// wrapNetlink turns a netlink failure into an error of the right class.
func wrapNetlink(what string, err error) error {
	return fmt.Errorf("network: %s: %w", what, classify(err))
}
