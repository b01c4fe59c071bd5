// Package ipam hands out IPv4 addresses of a subnet to sandboxes and keeps
// the leases in a LeaseStore, so they survive a restart of the daemon.
package ipam

import (
	"context"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/volant-sh/volant/errdefs"
)

// LeaseStore persists leases. Addresses are in their text form.
// store.Store implements it.
type LeaseStore interface {
	// PoolLeases returns the leases of pool as a map from address to owner.
	PoolLeases(ctx context.Context, pool string) (map[string]string, error)
	// InsertLease records a lease; it fails if the address or the owner
	// already has one in the pool.
	InsertLease(ctx context.Context, pool, ip, owner, mac string) error
	// DeleteLease forgets a lease; deleting a missing lease is not an error.
	DeleteLease(ctx context.Context, pool, ip string) error
}

// Lease is an address and who holds it.
type Lease struct {
	Addr  netip.Addr
	Owner string
	MAC   net.HardwareAddr
}

// Allocator leases the addresses of one IPv4 prefix. The first address is
// the gateway; the network, gateway and broadcast addresses are never
// handed out. An owner holds at most one address. It is safe for concurrent
// use.
type Allocator struct {
	store  LeaseStore
	pool   string
	prefix netip.Prefix
	base   uint32 // the network address
	size   uint32 // addresses in the prefix, reserved ones included

	mu sync.Mutex
	// used has a bit per address offset; reserved offsets are always set.
	used   []uint64
	free   uint32 // offsets not set in used
	cursor uint32 // offset to try next
	owners map[string]uint32
	byAddr map[uint32]string
}

// MinBits and MaxBits bound the prefix length: a /30 has one address to
// lease, a /8 sixteen million.
const (
	MinBits = 8
	MaxBits = 30
)

// New returns an allocator for prefix that persists leases in store under
// the name pool, and loads the leases already there. Stored leases outside
// the prefix, or on its reserved addresses, are left alone and ignored.
func New(ctx context.Context, store LeaseStore, pool string, prefix netip.Prefix) (*Allocator, error) {
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return nil, errdefs.Invalid("subnet %s is not an IPv4 prefix; use a form like 10.88.0.0/16", prefix)
	}
	if b := prefix.Bits(); b < MinBits || b > MaxBits {
		return nil, errdefs.Invalid("subnet %s: prefix length must be between /%d and /%d", prefix, MinBits, MaxBits)
	}
	if pool == "" {
		return nil, errdefs.Invalid("address pool name is empty")
	}
	prefix = prefix.Masked()
	size := uint32(1) << (32 - prefix.Bits())
	a := &Allocator{
		store:  store,
		pool:   pool,
		prefix: prefix,
		base:   toU32(prefix.Addr()),
		size:   size,
		used:   make([]uint64, (size+63)/64),
		free:   size,
		cursor: 2,
		owners: make(map[string]uint32),
		byAddr: make(map[uint32]string),
	}
	for _, off := range []uint32{0, 1, size - 1} {
		a.setLocked(off)
	}
	leases, err := store.PoolLeases(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("loading leases of pool %s: %w", pool, err)
	}
	for ip, owner := range leases {
		addr, err := netip.ParseAddr(ip)
		if err != nil || !prefix.Contains(addr) {
			continue
		}
		off := toU32(addr) - a.base
		if a.isSetLocked(off) {
			continue // reserved
		}
		a.setLocked(off)
		a.owners[owner] = off
		a.byAddr[off] = owner
	}
	return a, nil
}

// Prefix returns the subnet the allocator leases from.
func (a *Allocator) Prefix() netip.Prefix { return a.prefix }

// Gateway returns the subnet's first address, which the host keeps.
func (a *Allocator) Gateway() netip.Addr { return a.addr(1) }

// Allocate leases an address to owner and persists the lease. If owner
// already holds one, it returns that address again, so retrying is safe.
// Addresses are handed out in order from where the last one was, wrapping
// around, so a released address is not reused at once. A full pool returns
// an error wrapping errdefs.ErrResourceExhausted.
func (a *Allocator) Allocate(ctx context.Context, owner string) (netip.Addr, error) {
	if owner == "" {
		return netip.Addr{}, errdefs.Invalid("address lease owner is empty")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if off, ok := a.owners[owner]; ok {
		return a.addr(off), nil
	}
	off, ok := a.nextFreeLocked()
	if !ok {
		return netip.Addr{}, errdefs.Exhausted("no free address in %s (pool %s, %d leased); delete sandboxes or configure a larger subnet", a.prefix, a.pool, len(a.byAddr))
	}
	addr := a.addr(off)
	// The lock is held across the write so that memory and store agree;
	// the store has a single writer anyway.
	if err := a.store.InsertLease(ctx, a.pool, addr.String(), owner, MAC(addr).String()); err != nil {
		return netip.Addr{}, fmt.Errorf("leasing %s to %s: %w", addr, owner, err)
	}
	a.setLocked(off)
	a.owners[owner] = off
	a.byAddr[off] = owner
	a.cursor = off + 1
	if a.cursor >= a.size {
		a.cursor = 0
	}
	return addr, nil
}

// Release returns addr to the pool and reports whether it was leased.
// Releasing an address that is not leased (again, or never) does nothing and
// reports false, so it is safe to repeat.
func (a *Allocator) Release(ctx context.Context, addr netip.Addr) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.prefix.Contains(addr) {
		return false, nil
	}
	return a.releaseLocked(ctx, toU32(addr)-a.base)
}

// ReleaseOwner releases the address owner holds, reporting whether it held
// one.
func (a *Allocator) ReleaseOwner(ctx context.Context, owner string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	off, ok := a.owners[owner]
	if !ok {
		return false, nil
	}
	return a.releaseLocked(ctx, off)
}

func (a *Allocator) releaseLocked(ctx context.Context, off uint32) (bool, error) {
	owner, ok := a.byAddr[off]
	if !ok {
		return false, nil
	}
	addr := a.addr(off)
	if err := a.store.DeleteLease(ctx, a.pool, addr.String()); err != nil {
		return false, fmt.Errorf("releasing %s of %s: %w", addr, owner, err)
	}
	a.clearLocked(off)
	delete(a.byAddr, off)
	delete(a.owners, owner)
	return true, nil
}

// Lookup returns the address owner holds.
func (a *Allocator) Lookup(owner string) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	off, ok := a.owners[owner]
	if !ok {
		return netip.Addr{}, false
	}
	return a.addr(off), true
}

// Leases returns every lease, ordered by address.
func (a *Allocator) Leases() []Lease {
	a.mu.Lock()
	out := make([]Lease, 0, len(a.byAddr))
	for off, owner := range a.byAddr {
		addr := a.addr(off)
		out = append(out, Lease{Addr: addr, Owner: owner, MAC: MAC(addr)})
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y Lease) int { return x.Addr.Compare(y.Addr) })
	return out
}

// Free returns how many addresses are left to lease.
func (a *Allocator) Free() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.free)
}

// nextFreeLocked finds the first clear bit at or after the cursor, wrapping
// around, a 64-bit word at a time.
func (a *Allocator) nextFreeLocked() (uint32, bool) {
	if a.free == 0 {
		return 0, false
	}
	words := uint32(len(a.used))
	start := a.cursor / 64
	for i := uint32(0); i <= words; i++ {
		w := (start + i) % words
		free := ^a.used[w]
		if i == 0 {
			free &^= (1 << (a.cursor % 64)) - 1 // bits before the cursor come last
		}
		if free != 0 {
			off := w*64 + uint32(bits.TrailingZeros64(free))
			if off < a.size {
				return off, true
			}
		}
	}
	return 0, false
}

func (a *Allocator) setLocked(off uint32) {
	if !a.isSetLocked(off) {
		a.used[off/64] |= 1 << (off % 64)
		a.free--
	}
}

func (a *Allocator) clearLocked(off uint32) {
	if a.isSetLocked(off) {
		a.used[off/64] &^= 1 << (off % 64)
		a.free++
	}
}

func (a *Allocator) isSetLocked(off uint32) bool { return a.used[off/64]&(1<<(off%64)) != 0 }

func (a *Allocator) addr(off uint32) netip.Addr { return fromU32(a.base + off) }

func toU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
