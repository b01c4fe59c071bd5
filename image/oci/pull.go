package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/volant-sh/volant/errdefs"
)

// BuiltinNames are image names that never go to a registry: they name
// images Volant builds itself (volantd image build).
var BuiltinNames = map[string]bool{"debian": true}

// builtWithPackages matches the names of built-in images built with extra
// packages for a plugin (image/debian.WithPackages): debian-<16 hex>.
var builtWithPackages = regexp.MustCompile(`^debian-[0-9a-f]{16}$`)

// IsBuilt reports whether ref names an image Volant builds rather than
// pulls: a built-in name, or a built-in image with a plugin's packages.
func IsBuilt(ref string) bool { return BuiltinNames[ref] || builtWithPackages.MatchString(ref) }

// PullOptions tune one Pull.
type PullOptions struct {
	// PublicKey, a PEM public key, requires a cosign signature by it
	// (besides any the store's TrustedKeys require).
	PublicKey string
	// Progress, when set, receives progress reports.
	Progress ProgressFunc
}

// Platform is the only platform Volant runs.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// parseRef parses a registry reference. Loopback registries are spoken to
// over plain HTTP; every other registry over HTTPS.
func parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, errdefs.Invalid("image reference %q: %v (use e.g. python:3.12-slim, ghcr.io/owner/image:tag or name@sha256:<digest>)", ref, err)
	}
	if isLoopback(r.Context().RegistryStr()) {
		r, err = name.ParseReference(ref, name.Insecure)
		if err != nil {
			return nil, errdefs.Invalid("image reference %q: %v", ref, err)
		}
	}
	return r, nil
}

// normalize returns the full form of a reference
// (index.docker.io/library/python:3.12-slim).
func normalize(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	return r.Name(), nil
}

func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// guardTransport refuses plain HTTP to anything but loopback:
// go-containerregistry would also speak HTTP to private (RFC 1918) and
// .local registries.
type guardTransport struct{ base http.RoundTripper }

func (g guardTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !isLoopback(r.URL.Host) {
		return nil, errdefs.Invalid("refusing plain HTTP to registry %s: only loopback registries are reached without TLS", r.URL.Host)
	}
	return g.base.RoundTrip(r)
}

func (s *Store) transport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.TLSHandshakeTimeout = 30 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return guardTransport{t}
}

// Pull fetches ref from its registry (anonymously, or with the
// credentials of the Docker config and its credential helpers), keeps
// every blob it does not have yet, and converts the image to its ext4.
// An index resolves to its linux/amd64 image. A digest-pinned reference
// must match. A failed or cancelled pull keeps nothing.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*Image, error) {
	if BuiltinNames[ref] {
		if img, err := s.Get(ctx, ref); err == nil {
			return img, nil
		}
		return nil, errdefs.NotFound("image %q is built by Volant, not pulled: run volantd image build (make image)", ref)
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	keys, err := s.requiredKeys(opts.PublicKey)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PullTimeout)
	defer cancel()
	mu := s.key("pull " + r.Name())
	mu.Lock()
	defer mu.Unlock()

	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(s.transport()),
		remote.WithPlatform(Platform),
		remote.WithUserAgent("volant"),
	}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, registryErr(ref, err)
	}
	if len(desc.Manifest) > maxManifestBytes {
		return nil, errdefs.Exhausted("the manifest of %s is over %d MiB", ref, maxManifestBytes>>20)
	}
	top := desc.Digest.String()
	if got := sha256Hex(desc.Manifest); got != top {
		return nil, errdefs.Invalid("the registry's manifest for %s hashes to %s, not the %s it claims", ref, got, top)
	}
	if d, ok := r.(name.Digest); ok && d.DigestStr() != top {
		return nil, errdefs.Invalid("%s: the registry answered manifest %s, not the pinned digest", ref, top)
	}
	in := ingest{ref: ref, names: []string{r.Name()}, source: r.Name(), progress: opts.Progress}
	if len(keys) > 0 {
		fp, err := s.verifySignature(ctx, r, top, keys, ropts)
		if err != nil {
			return nil, err
		}
		in.signedBy = fp
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, registryErr(ref, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, errdefs.Invalid("the image index of %s is not valid: %v", ref, err)
		}
		child, err := pickPlatform(im)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		in.img, err = remote.Image(r.Context().Digest(child.String()), ropts...)
		if err != nil {
			return nil, registryErr(ref, err)
		}
		in.indexDigest = top
		in.indexRaw = desc.Manifest
	case desc.MediaType.IsImage():
		if in.img, err = desc.Image(); err != nil {
			return nil, registryErr(ref, err)
		}
	default:
		return nil, errdefs.Invalid("%s is a %s, not an image", ref, desc.MediaType)
	}
	img, err := s.add(ctx, in)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			return nil, errdefs.Unavailable("pulling %s: %v (stopped after %s: the pull timeout)", ref, err, s.cfg.PullTimeout)
		}
		return nil, fmt.Errorf("pulling %s: %w", ref, classifyBlobErr(ref, err))
	}
	return img, nil
}

// pickPlatform returns the linux/amd64 manifest of an index.
func pickPlatform(im *v1.IndexManifest) (v1.Hash, error) {
	var seen []string
	for _, m := range im.Manifests {
		if m.Platform == nil {
			continue
		}
		if m.Platform.OS == Platform.OS && m.Platform.Architecture == Platform.Architecture {
			return m.Digest, nil
		}
		seen = append(seen, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	return v1.Hash{}, errdefs.NotFound("the image index has no linux/amd64 image (it has %s)", strings.Join(seen, ", "))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// registryErr classes a go-containerregistry error.
func registryErr(ref string, err error) error {
	if errors.Is(err, errdefs.ErrInvalidArgument) || errors.Is(err, context.Canceled) {
		return err
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return errdefs.NotFound("image %s is not in its registry: check the name and tag (%v)", ref, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return errdefs.Invalid("the registry refused access to %s: log in with docker login (Volant reads the Docker config and credential helpers) or check the name (%v)", ref, err)
		case http.StatusTooManyRequests:
			return errdefs.Unavailable("the registry rate-limits pulls of %s: try again later or log in (%v)", ref, err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errdefs.Unavailable("pulling %s timed out: %v", ref, err)
	}
	return errdefs.Unavailable("reaching the registry of %s: %v", ref, err)
}
