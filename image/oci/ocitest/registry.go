package ocitest

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Registry is an OCI registry served on loopback for one test, which
// counts blob requests and can corrupt the blobs it serves.
type Registry struct {
	// Host is host:port of the registry.
	Host string

	mu        sync.Mutex
	blobGets  int
	corrupted map[string]bool
}

// NewRegistry serves a registry until the test ends.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{corrupted: map[string]bool{}}
	h := registry.New(registry.Logger(nopLogger()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:") {
			r.mu.Lock()
			r.blobGets++
			bad := r.corrupted[req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]]
			r.mu.Unlock()
			if bad {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				b := rec.Body.Bytes()
				if len(b) > 0 {
					b[len(b)/2] ^= 0xff
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(b)
				return
			}
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// BlobGets is how many blob downloads the registry has served.
func (r *Registry) BlobGets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobGets
}

// Corrupt makes the registry serve the blob with that digest altered.
func (r *Registry) Corrupt(digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.corrupted[digest] = true
}

// Ref returns a reference to repo:tag in the registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// Push writes img (an image or an index) to ref.
func (r *Registry) Push(t testing.TB, ref string, img any) {
	t.Helper()
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	switch x := img.(type) {
	case v1.Image:
		err = remote.Write(n, x)
	case v1.ImageIndex:
		err = remote.WriteIndex(n, x)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// Image builds a linux/amd64 image of gzip-compressed layers with the
// given config.
func Image(t testing.TB, cfg v1.Config, layers ...[]byte) v1.Image {
	t.Helper()
	img := empty.Image
	for _, l := range layers {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(l)
		zw.Close()
		var err error
		img, err = mutate.AppendLayers(img, static.NewLayer(buf.Bytes(), types.DockerLayer))
		if err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Key is a signing key pair for tests.
type Key struct {
	priv *ecdsa.PrivateKey
	// PublicPEM is the public half, PEM-encoded.
	PublicPEM string
}

// NewKey makes an ECDSA P-256 key, as cosign generate-key-pair does.
func NewKey(t testing.TB) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &Key{priv: priv, PublicPEM: string(pem)}
}

// Sign pushes a cosign signature of digest (of the image in repo) to the
// tag cosign uses, sha256-<hex>.sig, with payload as the signed
// simple-signing document.
func (r *Registry) Sign(t testing.TB, k *Key, repo, digest string, payload []byte, mediaType, annotation string) {
	t.Helper()
	s, err := signature.LoadSigner(k.priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:       static.NewLayer(payload, types.MediaType(mediaType)),
		Annotations: map[string]string{annotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Push(t, repo+":"+strings.Replace(digest, ":", "-", 1)+".sig", img)
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// SignBlob signs payload as cosign sign-blob --key does and returns the
// base64 signature.
func (k *Key) SignBlob(t testing.TB, payload []byte) string {
	t.Helper()
	s, err := signature.LoadSigner(k.priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}
