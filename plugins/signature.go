package plugins

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
)

// Signatures. A plugin may require that its files are signed: when the
// manifest names a public key (public_key), or the operator configured
// trusted plugin keys (Config.TrustedKeys, which then take the
// manifest's place: a manifest cannot widen what the operator trusts),
// every artifact and a rootfs file must carry a cosign-style signature
// (cosign sign-blob --key: the base64 signature of the file's bytes) by
// one of those keys, and an OCI rootfs must be signed in its registry
// (cosign sign --key). The check is offline, with the key alone: no
// transparency log is asked. A missing or bad signature refuses the
// install, and nothing of it is kept.

// verifier is one key signatures are checked against.
type verifier struct {
	pem string
	key *oci.PublicKey
}

// requiredKeys are the keys a manifest's files must be signed by: the
// operator's, else the manifest's own, else none (no signature needed).
func (r *Registry) requiredKeys(m *Manifest) ([]*verifier, error) {
	pems, field := r.cfg.TrustedKeys, "trusted plugin key"
	if len(pems) == 0 && strings.TrimSpace(m.PublicKey) != "" {
		pems, field = []string{m.PublicKey}, "public_key"
	}
	var out []*verifier
	for i, p := range pems {
		k, err := oci.ParsePublicKey(p)
		if err != nil {
			if field == "public_key" {
				return nil, errdefs.Invalid("public_key: %v; give a PEM public key (cosign generate-key-pair writes cosign.pub)", err)
			}
			return nil, fmt.Errorf("%s %d: %w", field, i+1, err)
		}
		out = append(out, &verifier{pem: p, key: k})
	}
	return out, nil
}

// checkSignature checks that sig (base64) signs the blob sum by one of
// keys; with no keys, a signature given is still checked against nothing
// and passes only when none is required.
func (r *Registry) checkSignature(ctx context.Context, field, sig, sum string, keys []*verifier) error {
	if len(keys) == 0 {
		return nil
	}
	if strings.TrimSpace(sig) == "" {
		return errdefs.Invalid("%s.signature: is missing and a signature is required (%s); sign the file with cosign sign-blob --key and put the base64 signature here",
			field, r.keysSay(keys))
	}
	var last error
	for _, k := range keys {
		f, err := os.Open(r.blobs.path(sum))
		if err != nil {
			return err
		}
		err = k.key.VerifyBlob(sig, ctxReader{ctx, f})
		f.Close()
		if err == nil {
			r.log.Info("plugin file signature verified", "field", field, "key", k.key.Fingerprint())
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
	}
	return errdefs.Invalid("%s.signature: is not a valid signature of the file by %s (%v); sign this very file with the private half of the key (cosign sign-blob --key)",
		field, r.keysSay(keys), last)
}

// keysSay names the keys for a message.
func (r *Registry) keysSay(keys []*verifier) string {
	var fps []string
	for _, k := range keys {
		fps = append(fps, k.key.Fingerprint())
	}
	who := "the manifest's public_key"
	if len(r.cfg.TrustedKeys) > 0 {
		who = "one of the operator's trusted plugin keys"
	}
	return who + " " + strings.Join(fps, ", ")
}
