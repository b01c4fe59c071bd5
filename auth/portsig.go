package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Port URL lifetimes: a signed URL to a guest port lives DefaultPortURLTTL
// unless asked otherwise, and at most MaxPortURLTTL.
const (
	DefaultPortURLTTL = time.Hour
	MaxPortURLTTL     = 24 * time.Hour
)

// PortSigner signs and checks per-port URLs: a signature grants whoever
// holds it the HTTP server on one port of one sandbox until it expires,
// and nothing else (not the API). The key is the daemon's (PortKey).
type PortSigner struct {
	key []byte
	now func() time.Time
}

// NewPortSigner returns a signer with key; an empty key gets a random one
// (URLs then die with the process).
func NewPortSigner(key []byte) *PortSigner {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &PortSigner{key: key, now: time.Now}
}

// PortURLTTL checks a requested lifetime in seconds (0: the default).
func PortURLTTL(seconds int) (time.Duration, error) {
	if seconds < 0 || seconds > int(MaxPortURLTTL/time.Second) {
		return 0, errdefs.Invalid("ttl_s %d: must be between 0 (one hour) and %d (a day)", seconds, int(MaxPortURLTTL/time.Second))
	}
	if seconds == 0 {
		return DefaultPortURLTTL, nil
	}
	return time.Duration(seconds) * time.Second, nil
}

// Sign returns the signature of sandbox's port until exp: "<unix>.<mac>".
func (s *PortSigner) Sign(sandbox string, port int, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + s.mac(sandbox, port, e)
}

func (s *PortSigner) mac(sandbox string, port int, exp string) string {
	h := hmac.New(sha256.New, s.key)
	fmt.Fprintf(h, "volant-port\n%s\n%d\n%s", sandbox, port, exp)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Verify checks sig for sandbox's port: an error wrapping
// errdefs.ErrUnauthenticated saying what is wrong, or nil.
func (s *PortSigner) Verify(sandbox string, port int, sig string) error {
	e, mac, ok := strings.Cut(sig, ".")
	if !ok || len(sig) > 128 {
		return errUnauthenticated("the port signature is malformed; ask the API for a new URL")
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(sandbox, port, e))) {
		return errUnauthenticated("the port signature is not valid for this sandbox and port; ask the API for a new URL")
	}
	n, err := strconv.ParseInt(e, 10, 64)
	if err != nil || !s.now().Before(time.Unix(n, 0)) {
		return errUnauthenticated("the port URL expired; ask the API for a new one")
	}
	return nil
}

// LoadPortKey reads the daemon's port-URL key from path, creating it
// (32 random bytes, mode 0600) on first use, so signed URLs outlive a
// restart.
func LoadPortKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the port key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("writing the port key: %w", err)
	}
	return key, nil
}
