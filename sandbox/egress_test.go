package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/network"
	"github.com/volant-sh/volant/network/egress"
	"github.com/volant-sh/volant/store"
)

// fakeEgress records what the engine attaches.
type fakeEgress struct {
	mu     sync.Mutex
	guests map[netip.Addr]egress.Guest
	forgot []string
}

func (f *fakeEgress) Attach(a netip.Addr, g egress.Guest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.guests == nil {
		f.guests = map[netip.Addr]egress.Guest{}
	}
	f.guests[a] = g
	return nil
}
func (f *fakeEgress) Detach(a netip.Addr) { f.mu.Lock(); delete(f.guests, a); f.mu.Unlock() }
func (f *fakeEgress) Forget(id string)    { f.mu.Lock(); f.forgot = append(f.forgot, id); f.mu.Unlock() }
func (f *fakeEgress) Stats(string) egress.Stats {
	return egress.Stats{ConnDenied: 3}
}
func (f *fakeEgress) AllStats() map[string]egress.Stats { return nil }
func (f *fakeEgress) CACertPEM() []byte                 { return []byte("PEM") }
func (f *fakeEgress) guest(a string) (egress.Guest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.guests[netip.MustParseAddr(a)]
	return g, ok
}

var (
	_ Egress    = (*egress.Service)(nil)
	_ TapPinner = (*network.Manager)(nil)
)

// egressManager is a Manager with a store, a secret store and a fake
// enforcer, and no driver: enough for the egress methods.
func egressManager(t *testing.T, dir string, ec EgressConfig) *Manager {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	secrets, err := openSecretStore(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	return &Manager{
		cfg: Config{StateDir: dir, Store: st, Egress: ec}, log: slog.New(slog.DiscardHandler),
		vms: map[string]*instance{}, secrets: secrets, life: context.Background(),
	}
}

// putBridged stores a running bridged sandbox's record as Create would.
func putBridged(t *testing.T, m *Manager, id string, spec Spec) store.Sandbox {
	t.Helper()
	spec.Network = NetworkBridge
	spec, err := m.prepareSecrets(id, m.egressEnv(spec))
	if err != nil {
		t.Fatal(err)
	}
	rec := store.Sandbox{ID: id, Runtime: "default", State: string(StateRunning), IP: "10.88.0.7/16", CreatedAt: time.Now(), LastActiveAt: time.Now()}
	setSpec(&rec, recordSpec{Spec: spec})
	if _, err := m.cfg.Store.CreateSandbox(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestCheckEgress(t *testing.T) {
	deny := &EgressPolicy{Default: egress.Deny, Allow: []string{"pypi.org"}}
	sec := map[string]SecretRef{"KEY": {Value: "v", Hosts: []string{"api.test"}}}
	enf := &fakeEgress{}
	for _, tc := range []struct {
		name string
		ec   EgressConfig
		spec Spec
		want string // "" = accepted
	}{
		{"user mode, restrictive", EgressConfig{Enforcer: enf}, Spec{Network: NetworkUser, Egress: deny}, "only for bridge networking"},
		{"user mode, open policy", EgressConfig{Enforcer: enf}, Spec{Network: NetworkUser, Egress: &EgressPolicy{Default: egress.Allow}}, ""},
		{"user mode, secrets", EgressConfig{Enforcer: enf}, Spec{Network: NetworkUser, Secrets: sec}, "bridge"},
		{"user mode under a restrictive ceiling", EgressConfig{Enforcer: enf, Ceiling: deny}, Spec{Network: NetworkUser}, "operator restricts egress"},
		{"none under a restrictive ceiling", EgressConfig{Enforcer: enf, Ceiling: deny}, Spec{Network: NetworkNone}, ""},
		{"bridge without enforcement", EgressConfig{}, Spec{Network: NetworkBridge, Egress: deny}, "not enabled on this daemon"},
		{"bridge", EgressConfig{Enforcer: enf}, Spec{Network: NetworkBridge, Egress: deny, Secrets: sec}, ""},
		{"bad policy", EgressConfig{Enforcer: enf}, Spec{Network: NetworkBridge, Egress: &EgressPolicy{Default: "nope"}}, "use \"deny\" or \"allow\""},
		{"secret without hosts", EgressConfig{Enforcer: enf}, Spec{Network: NetworkBridge, Secrets: map[string]SecretRef{"K": {Value: "v"}}}, "list the hosts"},
		{"secret value and name", EgressConfig{Enforcer: enf}, Spec{Network: NetworkBridge, Secrets: map[string]SecretRef{"K": {Value: "v", Name: "n", Hosts: []string{"a.test"}}}}, "either value or name"},
		{"secret to an IP", EgressConfig{Enforcer: enf}, Spec{Network: NetworkBridge, Secrets: map[string]SecretRef{"K": {Value: "v", Hosts: []string{"192.0.2.1"}}}}, "domain name"},
		{"secret shadows env", EgressConfig{Enforcer: enf}, Spec{Network: NetworkBridge, Env: map[string]string{"KEY": "x"}, Secrets: sec}, "also in env"},
		{"secret key", EgressConfig{Enforcer: enf}, Spec{Network: NetworkBridge, Secrets: map[string]SecretRef{"1K": {Value: "v", Hosts: []string{"a.test"}}}}, "environment variable name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := egressManager(t, t.TempDir(), tc.ec)
			err := m.checkEgress(tc.spec)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("%v, want accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%v, want an error with %q", err, tc.want)
			case tc.want != "" && !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrUnavailable):
				t.Fatalf("%v has no invalid/unavailable class", err)
			}
		})
	}
}

// TestSecretsNeverStored checks that a create's inline value goes to the
// 0600 secret store and nowhere else: not the record, not the env (which
// holds the placeholder), and that the enforcer gets it.
func TestSecretsNeverStored(t *testing.T) {
	const value = "sk-live-abcdef-0123456789"
	dir := t.TempDir()
	enf := &fakeEgress{}
	m := egressManager(t, dir, EgressConfig{Enforcer: enf})
	if _, err := m.PutSecret(context.Background(), PutSecretRequest{Name: "gh-token", Value: "ghp-stored-value"}); err != nil {
		t.Fatal(err)
	}
	rec := putBridged(t, m, "sbx-1", Spec{Secrets: map[string]SecretRef{
		"OPENAI_API_KEY": {Value: value, Hosts: []string{"api.openai.com"}},
		"GH_TOKEN":       {Name: "gh-token", Hosts: []string{"api.github.com"}},
	}})
	if strings.Contains(string(rec.Spec), value) || strings.Contains(string(rec.Spec), "ghp-stored-value") {
		t.Fatalf("the record holds a value: %s", rec.Spec)
	}
	spec := specOf(rec).Spec
	ph := spec.Env["OPENAI_API_KEY"]
	if !strings.HasPrefix(ph, "volant-secret-") || spec.Secrets["OPENAI_API_KEY"].Placeholder != ph {
		t.Fatalf("env %q, secret %+v: want the placeholder in both", ph, spec.Secrets["OPENAI_API_KEY"])
	}
	if spec.Env["SSL_CERT_FILE"] != GuestCABundle {
		t.Fatalf("SSL_CERT_FILE = %q", spec.Env["SSL_CERT_FILE"])
	}
	st, err := os.Stat(filepath.Join(dir, "secrets", "sandboxes", "sbx-1", "OPENAI_API_KEY"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stored value: %v %v, want mode 0600", st, err)
	}
	m.attachEgress(rec)
	g, ok := enf.guest("10.88.0.7")
	if !ok || len(g.Secrets) != 2 {
		t.Fatalf("attached %+v, want two secrets", g)
	}
	got := map[string]string{}
	for _, s := range g.Secrets {
		got[s.Placeholder] = s.Value
	}
	want := map[string]string{ph: value, spec.Env["GH_TOKEN"]: "ghp-stored-value"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("values the enforcer got (-want +got):\n%s", diff)
	}
	list, err := m.Secrets(context.Background())
	if err != nil || len(list) != 1 || list[0].Name != "gh-token" {
		t.Fatalf("Secrets() = %+v, %v; want only the named secret", list, err)
	}
	m.detachEgress(rec, true)
	if _, err := os.Stat(filepath.Join(dir, "secrets", "sandboxes", "sbx-1")); !os.IsNotExist(err) {
		t.Fatalf("inline secrets left after delete: %v", err)
	}
	if err := m.DeleteSecret(context.Background(), "gh-token"); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteSecret(context.Background(), "gh-token"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// TestSetEgress changes a running sandbox's policy: the enforcer gets the
// new rules (under the ceiling) at once, and a new Manager over the same
// store (a daemon restart) attaches the changed policy again.
func TestSetEgress(t *testing.T) {
	dir := t.TempDir()
	enf := &fakeEgress{}
	ceiling := &EgressPolicy{Deny: []string{"*.internal"}}
	ec := EgressConfig{Enforcer: enf, Ceiling: ceiling, Default: &EgressPolicy{Default: egress.Deny, Allow: []string{"pypi.org"}}}
	m := egressManager(t, dir, ec)
	rec := putBridged(t, m, "sbx-2", Spec{})
	m.vms["sbx-2"] = &instance{}
	m.attachEgress(rec)
	g, _ := enf.guest("10.88.0.7")
	if !g.Rules.AllowName("pypi.org") || g.Rules.AllowName("example.com") {
		t.Fatal("the operator's default does not apply to a sandbox without a policy")
	}

	info, err := m.SetEgress(context.Background(), SetEgressRequest{Sandbox: "sbx-2", Policy: &EgressPolicy{Default: egress.Deny, Allow: []string{"example.com", "db.internal"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Enforced || info.Stats.ConnDenied != 3 || info.Effective.Allow[0] != "db.internal" {
		t.Fatalf("info %+v", info)
	}
	g, _ = enf.guest("10.88.0.7")
	if !g.Rules.AllowName("example.com") || g.Rules.AllowName("pypi.org") || g.Rules.AllowName("db.internal") {
		t.Fatal("new rules not applied, or the ceiling was widened")
	}
	if _, err := m.SetEgress(context.Background(), SetEgressRequest{Sandbox: "sbx-2", Policy: &EgressPolicy{Allow: []string{"a..b"}}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("bad policy: %v", err)
	}

	// Restart: a fresh enforcer and Manager over the same state.
	enf2 := &fakeEgress{}
	ec.Enforcer = enf2
	m2 := egressManager(t, dir, ec)
	rec, err = m2.cfg.Store.GetSandbox(context.Background(), "sbx-2")
	if err != nil {
		t.Fatal(err)
	}
	m2.attachEgress(rec)
	g, ok := enf2.guest("10.88.0.7")
	if !ok || !g.Rules.AllowName("example.com") || g.Rules.AllowName("pypi.org") {
		t.Fatal("the changed policy did not survive the restart")
	}
	// Back to the operator's default.
	if _, err := m2.SetEgress(context.Background(), SetEgressRequest{Sandbox: "sbx-2"}); err != nil {
		t.Fatal(err)
	}
	info, _ = m2.EgressOf(context.Background(), "sbx-2")
	if info.Policy != nil || info.Effective.Allow[0] != "pypi.org" {
		t.Fatalf("after reset: %+v", info)
	}
}

func TestForkSpec(t *testing.T) {
	parent := Spec{
		Network: NetworkBridge,
		Egress:  &EgressPolicy{Default: egress.Deny, Allow: []string{"pypi.org"}},
		Env:     map[string]string{"KEY": "volant-secret-aa", "OTHER": "x", "SSL_CERT_FILE": GuestCABundle},
		Secrets: map[string]SecretRef{"KEY": {Hosts: []string{"api.test"}, Placeholder: "volant-secret-aa"}},
	}
	got := forkSpec(parent)
	want := Spec{
		Network: NetworkBridge,
		Egress:  &EgressPolicy{Default: egress.Deny, Allow: []string{"pypi.org"}},
		Env:     map[string]string{"OTHER": "x", "SSL_CERT_FILE": GuestCABundle},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Spec{})); diff != "" {
		t.Fatalf("fork spec (-want +got):\n%s", diff)
	}
	if got.Egress == parent.Egress {
		t.Fatal("the clone shares the parent's policy")
	}
	if err := got.Validate(Limits{}); err != nil {
		t.Fatalf("a clone's spec does not validate: %v", err)
	}
}

// A fork's own policy is checked like a create's.
func TestForkRequestEgress(t *testing.T) {
	if err := (ForkRequest{Count: 1, Egress: &EgressPolicy{Default: "maybe"}}).Validate(); err == nil {
		t.Errorf("a bad fork policy was accepted")
	}
	if err := (ForkRequest{Count: 2, Egress: &EgressPolicy{Default: egress.Deny, Allow: []string{"pypi.org"}}}).Validate(); err != nil {
		t.Errorf("a good fork policy: %v", err)
	}
}
