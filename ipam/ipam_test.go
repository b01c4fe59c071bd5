package ipam_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/ipam"
	"github.com/volant-sh/volant/store"
)

var _ ipam.LeaseStore = (*store.Store)(nil)

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newAllocator(t testing.TB, prefix string) (*ipam.Allocator, *store.Store) {
	t.Helper()
	s := openStore(t, filepath.Join(t.TempDir(), "volant.db"))
	a, err := ipam.New(context.Background(), s, "default", netip.MustParsePrefix(prefix))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a, s
}

func TestNewRejects(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "volant.db"))
	tests := []struct {
		name   string
		pool   string
		prefix netip.Prefix
	}{
		{"zero prefix", "p", netip.Prefix{}},
		{"ipv6", "p", netip.MustParsePrefix("fd00::/64")},
		{"too small", "p", netip.MustParsePrefix("10.0.0.0/31")},
		{"too large", "p", netip.MustParsePrefix("10.0.0.0/7")},
		{"no pool name", "", netip.MustParsePrefix("10.0.0.0/24")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ipam.New(context.Background(), s, tt.pool, tt.prefix)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("New error = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestAllocateSequentialSkipsReserved(t *testing.T) {
	ctx := context.Background()
	a, _ := newAllocator(t, "10.88.0.77/29") // masked to 10.88.0.72/29
	if got, want := a.Prefix(), netip.MustParsePrefix("10.88.0.72/29"); got != want {
		t.Errorf("Prefix = %v, want %v", got, want)
	}
	if got, want := a.Gateway(), netip.MustParseAddr("10.88.0.73"); got != want {
		t.Errorf("Gateway = %v, want %v", got, want)
	}
	var got []string
	for i := range 5 {
		addr, err := a.Allocate(ctx, fmt.Sprint("sb", i))
		if err != nil {
			t.Fatalf("Allocate %d: %v", i, err)
		}
		got = append(got, addr.String())
	}
	want := []string{"10.88.0.74", "10.88.0.75", "10.88.0.76", "10.88.0.77", "10.88.0.78"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	_, err := a.Allocate(ctx, "one-too-many")
	if !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("Allocate on a full /29 error = %v, want ErrResourceExhausted", err)
	}
	if a.Free() != 0 {
		t.Errorf("Free = %d, want 0", a.Free())
	}

	// Release one, and the next allocation gets it back.
	ok, err := a.Release(ctx, netip.MustParseAddr("10.88.0.76"))
	if err != nil || !ok {
		t.Fatalf("Release = %v, %v; want true, nil", ok, err)
	}
	ok, err = a.Release(ctx, netip.MustParseAddr("10.88.0.76"))
	if err != nil || ok {
		t.Errorf("second Release = %v, %v; want false, nil", ok, err)
	}
	addr, err := a.Allocate(ctx, "late")
	if err != nil {
		t.Fatalf("Allocate after release: %v", err)
	}
	if want := netip.MustParseAddr("10.88.0.76"); addr != want {
		t.Errorf("Allocate after release = %v, want %v", addr, want)
	}
}

func TestAllocateIsIdempotentAndWrapsAround(t *testing.T) {
	ctx := context.Background()
	a, _ := newAllocator(t, "192.168.7.0/24")
	first, err := a.Allocate(ctx, "sb1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Allocate(ctx, "sb1")
	if err != nil || again != first {
		t.Errorf("second Allocate for the same owner = %v, %v; want %v", again, err, first)
	}
	if got, ok := a.Lookup("sb1"); !ok || got != first {
		t.Errorf("Lookup = %v, %v; want %v, true", got, ok, first)
	}
	if _, ok := a.Lookup("nobody"); ok {
		t.Error("Lookup of an unknown owner reported a lease")
	}

	// A released address is not reused until the cursor comes round.
	if ok, err := a.ReleaseOwner(ctx, "sb1"); err != nil || !ok {
		t.Fatalf("ReleaseOwner = %v, %v", ok, err)
	}
	if ok, err := a.ReleaseOwner(ctx, "sb1"); err != nil || ok {
		t.Errorf("second ReleaseOwner = %v, %v; want false, nil", ok, err)
	}
	next, err := a.Allocate(ctx, "sb2")
	if err != nil {
		t.Fatal(err)
	}
	if next == first {
		t.Errorf("Allocate reused the just-released %v", first)
	}
	for i := range 251 { // 253 usable, minus sb2 and the one left free
		if _, err := a.Allocate(ctx, fmt.Sprint("fill", i)); err != nil {
			t.Fatalf("fill %d: %v", i, err)
		}
	}
	// Only the first address is free now: the cursor must wrap to it.
	wrapped, err := a.Allocate(ctx, "wrap")
	if err != nil {
		t.Fatalf("Allocate after wraparound: %v", err)
	}
	if wrapped != first {
		t.Errorf("wrapped Allocate = %v, want %v", wrapped, first)
	}
}

func TestConcurrentAllocateDistinct(t *testing.T) {
	ctx := context.Background()
	a, _ := newAllocator(t, "10.88.0.0/16")
	const n = 100
	addrs := make([]netip.Addr, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { addrs[i], errs[i] = a.Allocate(ctx, fmt.Sprint("sb", i)) })
	}
	wg.Wait()
	seen := make(map[netip.Addr]int)
	for i, addr := range addrs {
		if errs[i] != nil {
			t.Fatalf("Allocate %d: %v", i, errs[i])
		}
		if j, dup := seen[addr]; dup {
			t.Errorf("owners %d and %d both got %v", j, i, addr)
		}
		seen[addr] = i
	}
	if got := len(a.Leases()); got != n {
		t.Errorf("Leases = %d, want %d", got, n)
	}
}

func TestLeasesSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "volant.db")
	prefix := netip.MustParsePrefix("10.88.0.0/24")

	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ipam.New(ctx, s, "default", prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"a", "b", "c"} {
		if _, err := a.Allocate(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.ReleaseOwner(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	// Another pool in the same store does not interfere.
	other, err := ipam.New(ctx, s, "other", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Allocate(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	want := a.Leases()
	s.Close()

	s2 := openStore(t, path)
	b, err := ipam.New(ctx, s2, "default", prefix)
	if err != nil {
		t.Fatalf("New after reopen: %v", err)
	}
	if diff := cmp.Diff(want, b.Leases(), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("leases after reopen (-want +got):\n%s", diff)
	}
	if got, want := b.Free(), 253-2; got != want {
		t.Errorf("Free after reopen = %d, want %d", got, want)
	}
	addr, err := b.Allocate(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range want {
		if l.Addr == addr {
			t.Errorf("Allocate after reopen handed out %v, still leased to %s", addr, l.Owner)
		}
	}
}

func TestMAC(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"10.88.0.2", "02:76:6c:58:00:02"},
		{"10.88.255.254", "02:76:6c:58:ff:fe"},
		{"192.168.1.10", "02:76:6c:a8:01:0a"},
	}
	for _, tt := range tests {
		if got := ipam.MAC(netip.MustParseAddr(tt.addr)).String(); got != tt.want {
			t.Errorf("MAC(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}

// BenchmarkAllocateRelease measures one persisted allocate and release in a
// /16 that already holds thousands of leases.
func BenchmarkAllocateRelease(b *testing.B) {
	ctx := context.Background()
	a, _ := newAllocator(b, "10.88.0.0/16")
	for i := range 5000 {
		if _, err := a.Allocate(ctx, fmt.Sprint("held", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		owner := fmt.Sprint("sb", i)
		i++
		if _, err := a.Allocate(ctx, owner); err != nil {
			b.Fatal(err)
		}
		if _, err := a.ReleaseOwner(ctx, owner); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// memStore is a LeaseStore in memory, to measure the allocator alone.
type memStore struct{}

func (memStore) PoolLeases(context.Context, string) (map[string]string, error) { return nil, nil }
func (memStore) InsertLease(context.Context, string, string, string, string) error {
	return nil
}
func (memStore) DeleteLease(context.Context, string, string) error { return nil }

// BenchmarkAllocateReleaseInMemory measures the allocator's own bookkeeping
// in a /16 that is 90% full, without the database.
func BenchmarkAllocateReleaseInMemory(b *testing.B) {
	ctx := context.Background()
	a, err := ipam.New(ctx, memStore{}, "default", netip.MustParsePrefix("10.88.0.0/16"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 59000 {
		if _, err := a.Allocate(ctx, fmt.Sprint("held", i)); err != nil {
			b.Fatal(err)
		}
	}
	owners := make([]string, 1024)
	for i := range owners {
		owners[i] = fmt.Sprint("sb", i)
	}
	i := 0
	for b.Loop() {
		owner := owners[i%len(owners)]
		i++
		if _, err := a.Allocate(ctx, owner); err != nil {
			b.Fatal(err)
		}
		if _, err := a.ReleaseOwner(ctx, owner); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
