package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/network/egress"
)

// SecretRef is one secret a sandbox is given at create, under the name of
// the environment variable that holds its placeholder. Exactly one of Value
// and Name is set: an inline value, or the name of a secret in the daemon's
// store. The guest only ever sees the placeholder; the egress proxy puts the
// value in its place in request headers sent to Hosts.
type SecretRef struct {
	// Value is the secret itself. It is write-only: the engine keeps it in
	// the daemon's secret store, never in the sandbox's record, and never
	// returns it.
	Value string `json:"value,omitempty"`
	// Name names a secret of the daemon's store instead of a value.
	Name string `json:"name,omitempty"`
	// Hosts are the names (or "*.suffix" globs) the value may be sent to.
	Hosts []string `json:"hosts"`
	// InBody also replaces the placeholder in request bodies (up to 1 MiB);
	// headers are always replaced.
	InBody bool `json:"in_body,omitempty"`
	// Placeholder is what the guest's environment holds; set by the engine.
	Placeholder string `json:"placeholder,omitempty"`
}

// SecretInfo describes a stored secret; its value is never shown.
type SecretInfo struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// PutSecretRequest stores a secret in the daemon's store by name.
type PutSecretRequest struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

var secretNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Validate reports what is wrong with r.
func (r PutSecretRequest) Validate() error {
	if !secretNameRE.MatchString(r.Name) || r.Name == "sandboxes" {
		return errdefs.Invalid("secret name %q: use 1-128 letters, digits, '_', '.' and '-', starting with a letter or digit (and not \"sandboxes\")", r.Name)
	}
	if r.Value == "" {
		return errdefs.Invalid("secret %s: the value is empty", r.Name)
	}
	if len(r.Value) > 64*1024 {
		return errdefs.Invalid("secret %s: the value is longer than 64 KiB", r.Name)
	}
	return nil
}

// maxSecrets bounds the secrets of one sandbox.
const maxSecrets = 64

// validateSecrets checks a Spec's secrets.
func validateSecrets(s Spec) error {
	if len(s.Secrets) > maxSecrets {
		return errdefs.Invalid("secrets: at most %d, got %d", maxSecrets, len(s.Secrets))
	}
	for _, k := range slices.Sorted(mapsKeys(s.Secrets)) {
		ref := s.Secrets[k]
		switch {
		case !envKeyRE.MatchString(k):
			return errdefs.Invalid("secret %q: the key is an environment variable name: letters, digits and '_', not starting with a digit", k)
		case (ref.Value == "") == (ref.Name == ""):
			return errdefs.Invalid("secret %s: give either value or name (a secret of the daemon's store), not both or neither", k)
		case ref.Name != "" && !secretNameRE.MatchString(ref.Name):
			return errdefs.Invalid("secret %s: store name %q is not a secret name", k, ref.Name)
		case len(ref.Hosts) == 0:
			return errdefs.Invalid("secret %s: list the hosts it may be sent to, for example [\"api.openai.com\"]", k)
		case strings.ContainsRune(ref.Value, 0) || len(ref.Value) > 64*1024:
			return errdefs.Invalid("secret %s: the value must be at most 64 KiB without NUL bytes", k)
		}
		if _, dup := s.Env[k]; dup {
			return errdefs.Invalid("secret %s is also in env; the secret's placeholder takes that variable, so drop it from env", k)
		}
		for _, h := range ref.Hosts {
			if err := (egress.Policy{Allow: []string{h}}).Validate(); err != nil || strings.ContainsAny(h, "/:") || isIPLike(h) {
				return errdefs.Invalid("secret %s: host %q must be a domain name or a *.suffix glob (secrets are only sent over TLS to a verified name)", k, h)
			}
		}
	}
	return nil
}

func isIPLike(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// newPlaceholder returns a fresh placeholder.
func newPlaceholder() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "volant-secret-" + hex.EncodeToString(b[:])
}

// secretStore keeps secret values as files of mode 0600 under one
// directory of mode 0700: named secrets at the top, the inline secrets of
// each sandbox under sandboxes/<id>/.
type secretStore struct {
	dir string
	mu  sync.Mutex
}

func openSecretStore(dir string) (*secretStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, "sandboxes"), 0o700); err != nil {
		return nil, fmt.Errorf("creating secret store: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	return &secretStore{dir: dir}, nil
}

func (s *secretStore) path(name string) string { return filepath.Join(s.dir, name) }

func (s *secretStore) put(rel, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(value), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (s *secretStore) get(rel string) (string, error) {
	b, err := os.ReadFile(s.path(rel))
	if errors.Is(err, os.ErrNotExist) {
		return "", errdefs.NotFound("secret %q is not in the daemon's secret store; store it first or pass the value inline", rel)
	}
	return string(b), err
}

// sandboxSecret is where a sandbox's inline secret is kept.
func sandboxSecret(id, key string) string { return filepath.Join("sandboxes", id, key) }

// PutSecret stores (or replaces) a named secret. Sandboxes already
// running keep the value they were given.
func (m *Manager) PutSecret(ctx context.Context, req PutSecretRequest) (SecretInfo, error) {
	if err := req.Validate(); err != nil {
		return SecretInfo{}, err
	}
	if err := m.secrets.put(req.Name, req.Value); err != nil {
		return SecretInfo{}, fmt.Errorf("storing secret %s: %w", req.Name, err)
	}
	m.log.Info("secret stored", "secret", req.Name)
	return SecretInfo{Name: req.Name, CreatedAt: time.Now().UTC()}, nil
}

// Secrets lists the named secrets of the daemon's store, without values.
func (m *Manager) Secrets(ctx context.Context) ([]SecretInfo, error) {
	ents, err := os.ReadDir(m.secrets.dir)
	if err != nil {
		return nil, err
	}
	out := []SecretInfo{}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, SecretInfo{Name: e.Name(), CreatedAt: info.ModTime().UTC()})
	}
	return out, nil
}

// DeleteSecret removes a named secret. Running sandboxes keep the value
// they hold until they stop; afterwards their placeholder is no longer
// replaced.
func (m *Manager) DeleteSecret(ctx context.Context, name string) error {
	if !secretNameRE.MatchString(name) {
		return errdefs.Invalid("secret name %q is not a secret name", name)
	}
	err := os.Remove(m.secrets.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return errdefs.NotFound("secret %q not found; list the secrets to see their names", name)
	}
	return err
}

// prepareSecrets stores a new sandbox's inline values, gives every secret
// a placeholder and puts the placeholders in the environment. The spec it
// returns holds no value.
func (m *Manager) prepareSecrets(id string, spec Spec) (Spec, error) {
	if len(spec.Secrets) == 0 {
		return spec, nil
	}
	env := make(map[string]string, len(spec.Env)+len(spec.Secrets))
	for k, v := range spec.Env {
		env[k] = v
	}
	out := make(map[string]SecretRef, len(spec.Secrets))
	for k, ref := range spec.Secrets {
		if ref.Name != "" {
			if _, err := m.secrets.get(ref.Name); err != nil {
				return spec, fmt.Errorf("secret %s: %w", k, err)
			}
		} else {
			if err := m.secrets.put(sandboxSecret(id, k), ref.Value); err != nil {
				return spec, fmt.Errorf("storing secret %s: %w", k, err)
			}
			ref.Name, ref.Value = "", ""
		}
		ref.Placeholder = newPlaceholder()
		env[k] = ref.Placeholder
		out[k] = ref
	}
	spec.Env, spec.Secrets = env, out
	return spec, nil
}

// loadSecrets reads the values of a sandbox's secrets for the proxy.
func (m *Manager) loadSecrets(id string, refs map[string]SecretRef) []egress.Secret {
	var out []egress.Secret
	for _, k := range slices.Sorted(mapsKeys(refs)) {
		ref := refs[k]
		rel := ref.Name
		if rel == "" {
			rel = sandboxSecret(id, k)
		}
		v, err := m.secrets.get(rel)
		if err != nil {
			m.log.Warn("secret unavailable; its placeholder is sent as it is", "sandbox", id, "secret", k, "err", err)
			continue
		}
		out = append(out, egress.Secret{Placeholder: ref.Placeholder, Value: v, Hosts: ref.Hosts, InBody: ref.InBody})
	}
	return out
}

// dropSecrets removes a sandbox's inline values.
func (m *Manager) dropSecrets(id string) {
	if m.secrets == nil {
		return
	}
	if err := os.RemoveAll(m.secrets.path(filepath.Join("sandboxes", id))); err != nil {
		m.log.Warn("removing secrets", "sandbox", id, "err", err)
	}
}
