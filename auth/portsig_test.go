package auth

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

func TestPortSignatures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := NewPortSigner([]byte("0123456789abcdef0123456789abcdef"))
	s.now = func() time.Time { return now }
	sig := s.Sign("sbx-1", 8080, now.Add(time.Hour))
	if err := s.Verify("sbx-1", 8080, sig); err != nil {
		t.Fatalf("a fresh signature: %v", err)
	}
	tests := []struct {
		name, sandbox string
		port          int
		sig           string
	}{
		{"another port", "sbx-1", 8081, sig},
		{"another sandbox", "sbx-2", 8080, sig},
		{"expired", "sbx-1", 8080, s.Sign("sbx-1", 8080, now)},
		{"forged expiry", "sbx-1", 8080, "9999999999" + sig[len("1800003600"):]},
		{"malformed", "sbx-1", 8080, "nodot"},
		{"another key", "sbx-1", 8080, NewPortSigner(nil).Sign("sbx-1", 8080, now.Add(time.Hour))},
	}
	for _, tt := range tests {
		if err := s.Verify(tt.sandbox, tt.port, tt.sig); !errors.Is(err, errdefs.ErrUnauthenticated) {
			t.Errorf("%s: %v, want unauthenticated", tt.name, err)
		}
	}
	for _, n := range []int{-1, 86401} {
		if _, err := PortURLTTL(n); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ttl %d: %v, want invalid", n, err)
		}
	}
	if d, err := PortURLTTL(0); err != nil || d != DefaultPortURLTTL {
		t.Errorf("ttl 0: %v %v", d, err)
	}
}

func TestPortKeyIsKept(t *testing.T) {
	p := filepath.Join(t.TempDir(), "port.key")
	a, err := LoadPortKey(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadPortKey(p)
	if err != nil || string(a) != string(b) {
		t.Fatalf("second load: %v, same key %v", err, string(a) == string(b))
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
}
