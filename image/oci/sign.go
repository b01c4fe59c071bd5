package oci

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/volant-sh/volant/errdefs"
)

// Cosign's conventions for a signature stored next to an image: the tag
// sha256-<hex>.sig holds an image whose layers are simple-signing
// payloads, each signature in an annotation of its layer.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	SignatureAnnotation    = "dev.cosignproject.cosign/signature"
	simpleSigningType      = "cosign container image signature"
	maxSignatureBytes      = 1 << 20
)

// SimpleSigning is cosign's signed payload: it names the manifest digest
// it vouches for.
type SimpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// NewSimpleSigning returns the payload cosign signs for an image.
func NewSimpleSigning(repo, digest string) []byte {
	var p SimpleSigning
	p.Critical.Identity.DockerReference = repo
	p.Critical.Image.DockerManifestDigest = digest
	p.Critical.Type = simpleSigningType
	b, _ := json.Marshal(p)
	return b
}

// SignatureTag is the tag cosign stores the signatures of digest under.
func SignatureTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".sig"
}

type trustedKey struct {
	verifier    signature.Verifier
	fingerprint string
}

// parseKey reads a PEM public key (ECDSA, RSA or Ed25519).
func parseKey(pemText string) (trustedKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(pemText))
	if err != nil {
		return trustedKey{}, errdefs.Invalid("the public key is not a PEM public key: %v", err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return trustedKey{}, errdefs.Invalid("the public key cannot check signatures: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return trustedKey{}, errdefs.Invalid("the public key: %v", err)
	}
	sum := sha256.Sum256(der)
	return trustedKey{verifier: v, fingerprint: "sha256:" + hex.EncodeToString(sum[:])}, nil
}

// requiredKeys are the keys one of which must have signed a pull: the
// request's and the operator's.
func (s *Store) requiredKeys(requested string) ([]trustedKey, error) {
	var keys []trustedKey
	for _, k := range append(append([]string{}, s.cfg.TrustedKeys...), requested) {
		if strings.TrimSpace(k) == "" {
			continue
		}
		tk, err := parseKey(k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, tk)
	}
	return keys, nil
}

// verifySignature checks that the cosign signature image of digest in r's
// repository holds a payload for digest signed by one of keys, offline
// (no transparency log). It returns the fingerprint of the key that
// signed.
func (s *Store) verifySignature(ctx context.Context, r name.Reference, digest string, keys []trustedKey, ropts []remote.Option) (string, error) {
	tag := r.Context().Tag(SignatureTag(digest))
	sigImg, err := remote.Image(tag, ropts...)
	if err != nil {
		if e := registryErr(tag.String(), err); errors.Is(e, errdefs.ErrNotFound) {
			return "", errdefs.Invalid("%s has no signature (no %s) and a signature by a trusted key is required: sign it with cosign, or pull without requiring one", r, tag.TagStr())
		}
		return "", fmt.Errorf("fetching the signature of %s: %w", r, registryErr(tag.String(), err))
	}
	m, err := sigImg.Manifest()
	if err != nil {
		return "", errdefs.Invalid("the signature manifest of %s is not valid: %v", r, err)
	}
	var reasons []string
	for _, l := range m.Layers {
		sigB64, ok := l.Annotations[SignatureAnnotation]
		if !ok || string(l.MediaType) != SimpleSigningMediaType {
			continue
		}
		if l.Size > maxSignatureBytes {
			reasons = append(reasons, "a payload is too large")
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(sigB64)
		if err != nil {
			reasons = append(reasons, "a signature is not base64")
			continue
		}
		layer, err := sigImg.LayerByDigest(l.Digest)
		if err != nil {
			return "", registryErr(tag.String(), err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			return "", registryErr(tag.String(), err)
		}
		payload, err := io.ReadAll(io.LimitReader(rc, maxSignatureBytes))
		rc.Close()
		if err != nil {
			return "", registryErr(tag.String(), err)
		}
		if got := sha256Hex(payload); got != l.Digest.String() {
			reasons = append(reasons, "a payload does not match its digest")
			continue
		}
		var p SimpleSigning
		if err := json.Unmarshal(payload, &p); err != nil || p.Critical.Type != simpleSigningType {
			reasons = append(reasons, "a payload is not a cosign simple-signing payload")
			continue
		}
		if p.Critical.Image.DockerManifestDigest != digest {
			reasons = append(reasons, "a signature is for another digest ("+p.Critical.Image.DockerManifestDigest+")")
			continue
		}
		for _, k := range keys {
			if err := k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)); err == nil {
				s.log.Info("image signature verified", "ref", r.String(), "digest", digest, "key", k.fingerprint)
				return k.fingerprint, nil
			}
		}
		reasons = append(reasons, "a signature is not by a trusted key")
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "the signature image holds no cosign signatures")
	}
	return "", errdefs.Invalid("%s is not signed by a trusted key (%s): sign it with the key's private half (cosign sign --key), or name the right public key", r, strings.Join(reasons, "; "))
}

// PublicKey is a PEM public key that checks signatures, for other
// packages that verify cosign-style signatures (plugin artifacts).
type PublicKey struct{ k trustedKey }

// ParsePublicKey reads a PEM public key (ECDSA, RSA or Ed25519).
func ParsePublicKey(pemText string) (*PublicKey, error) {
	k, err := parseKey(pemText)
	if err != nil {
		return nil, err
	}
	return &PublicKey{k: k}, nil
}

// Fingerprint is "sha256:" and the hex sha256 of the key's DER form.
func (p *PublicKey) Fingerprint() string { return p.k.fingerprint }

// VerifyBlob checks a signature of a blob as cosign sign-blob --key makes
// it: sigB64 is the base64 signature of the blob's bytes, read from
// payload. It works offline (no transparency log).
func (p *PublicKey) VerifyBlob(sigB64 string, payload io.Reader) error {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sigB64))
	if err != nil {
		return errdefs.Invalid("the signature is not base64: %v", err)
	}
	if err := p.k.verifier.VerifySignature(bytes.NewReader(sig), payload); err != nil {
		return errdefs.Invalid("the signature does not verify with key %s", p.k.fingerprint)
	}
	return nil
}
