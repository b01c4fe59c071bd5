// Package oci keeps OCI images for sandboxes: it pulls them from
// registries (go-containerregistry), imports them from OCI layouts and
// docker save or OCI tarballs, keeps every blob once in a content-addressed
// store checked against its digest, optionally requires a cosign-style
// signature, and converts each image once into an ext4 root filesystem
// (package convert) that every sandbox of the image shares read-only.
//
// On disk, under Config.Dir (STATE_DIR/images):
//
//	blobs/sha256/<hex>     manifests, configs and layers, by digest
//	oci/<hex>.json         one record per image (names, layers, config)
//	rootfs/<hex>.ext4      the image's root filesystem, by manifest digest
package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Limits and defaults of a Store.
const (
	DefaultMaxImageBytes    = 16 << 30
	DefaultMaxBlobBytes     = 8 << 30
	DefaultMaxUnpackedBytes = 32 << 30
	DefaultPullTimeout      = 30 * time.Minute
	maxManifestBytes        = 4 << 20
	// staleTempAge is how old a temporary file of an interrupted pull
	// must be before Open removes it.
	staleTempAge = 6 * time.Hour
)

// Config configures a Store. Dir is required.
type Config struct {
	// Dir is the store's root, e.g. STATE_DIR/images.
	Dir string
	// ImportDirs are the host directories images may be imported from by
	// path; empty refuses every import by path (uploads still work).
	ImportDirs []string
	// TrustedKeys are PEM public keys (their text); when set, every pull
	// from a registry must carry a cosign signature by one of them.
	TrustedKeys []string
	// InUse reports how many sandboxes and templates use an image (by
	// manifest digest); Delete refuses while it is above zero. Nil means
	// nothing uses any image.
	InUse func(digest string) (int, error)
	// MaxImageBytes bounds the compressed size of one image (config and
	// layers); 0 means DefaultMaxImageBytes.
	MaxImageBytes int64
	// MaxBlobBytes bounds one blob; 0 means DefaultMaxBlobBytes.
	MaxBlobBytes int64
	// MaxUnpackedBytes bounds the file content of one image's root
	// filesystem; 0 means DefaultMaxUnpackedBytes.
	MaxUnpackedBytes int64
	// PullTimeout bounds one pull (fetch and conversion); 0 means
	// DefaultPullTimeout.
	PullTimeout time.Duration
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return errdefs.Invalid("image store: dir %q must be an absolute path", c.Dir)
	}
	for _, d := range c.ImportDirs {
		if !filepath.IsAbs(d) {
			return errdefs.Invalid("image import dir %q: must be an absolute path", d)
		}
	}
	if c.MaxImageBytes < 0 || c.MaxBlobBytes < 0 || c.MaxUnpackedBytes < 0 || c.PullTimeout < 0 {
		return errdefs.Invalid("image store: limits must not be negative")
	}
	for i, k := range c.TrustedKeys {
		if _, err := parseKey(k); err != nil {
			return fmt.Errorf("image trusted key %d: %w", i+1, err)
		}
	}
	return nil
}

// Image is one image in the store.
type Image struct {
	// Digest is the digest of the image's manifest (for linux/amd64).
	Digest string `json:"digest"`
	// IndexDigest is the digest of the image index it was chosen from,
	// when the reference named an index.
	IndexDigest string `json:"index_digest,omitempty"`
	// Names are the references that point at it, e.g.
	// "index.docker.io/library/python:3.12-slim" or "debian".
	Names []string `json:"names"`
	// Source says where it came from: a registry reference, "oci-layout
	// <path>", "tarball <path>", "upload" or "built-in".
	Source    string      `json:"source"`
	MediaType string      `json:"media_type"`
	Config    ImageConfig `json:"config"`
	Layers    []Layer     `json:"layers"`
	// Size is the compressed size: manifest, config and layers.
	Size int64 `json:"size"`
	// ConfigDigest is the digest of the image's config blob.
	ConfigDigest string `json:"config_digest"`
	// RootFSSize is the size of its ext4 file, once converted.
	RootFSSize int64 `json:"rootfs_size,omitempty"`
	// SignedBy is the fingerprint (sha256 of the DER public key) of the
	// key whose signature was checked at pull, if any.
	SignedBy  string    `json:"signed_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// ImageConfig is the part of an image's config a sandbox uses.
type ImageConfig struct {
	Env        []string          `json:"env,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	User       string            `json:"user,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// Layer is one layer of an image.
type Layer struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
}

// RootFS is an image's root filesystem as a sandbox uses it: the ext4
// file (shared, read-only) and the config defaults.
type RootFS struct {
	Ref        string
	Digest     string
	Path       string
	Env        []string
	WorkingDir string
	User       string
	Entrypoint []string
	Cmd        []string
}

// Store holds the images of one state directory.
type Store struct {
	cfg   Config
	log   *slog.Logger
	blobs blobs

	// gc is held shared by everything that adds blobs and exclusively by
	// Delete, so Delete never removes a blob a pull has just written.
	gc sync.RWMutex
	// keys serialises pulls of one reference and conversions of one
	// image.
	keysMu sync.Mutex
	keys   map[string]*sync.Mutex

	mu     sync.Mutex
	images map[string]*Image // by digest
	pins   map[string]int    // blobs of pulls in flight, by digest
}

// Open opens (creating if needed) the store under cfg.Dir and loads its
// records; temporary files an interrupted pull left hours ago are removed.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxImageBytes == 0 {
		cfg.MaxImageBytes = DefaultMaxImageBytes
	}
	if cfg.MaxBlobBytes == 0 {
		cfg.MaxBlobBytes = DefaultMaxBlobBytes
	}
	if cfg.MaxUnpackedBytes == 0 {
		cfg.MaxUnpackedBytes = DefaultMaxUnpackedBytes
	}
	if cfg.PullTimeout == 0 {
		cfg.PullTimeout = DefaultPullTimeout
	}
	s := &Store{cfg: cfg, log: cfg.Logger, blobs: blobs{filepath.Join(cfg.Dir, "blobs")},
		keys: map[string]*sync.Mutex{}, images: map[string]*Image{}, pins: map[string]int{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{s.recordDir(), s.rootfsDir(), filepath.Join(s.blobs.dir, "sha256")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating image store: %w", err)
		}
	}
	for _, pat := range []string{filepath.Join(s.blobs.dir, "sha256", ".tmp-*"), filepath.Join(s.rootfsDir(), ".tmp-*"), filepath.Join(s.recordDir(), ".tmp-*")} {
		// Another process (volantd image build, a second daemon on a
		// shared image dir) may be writing its own: only old ones go.
		left, _ := filepath.Glob(pat)
		for _, p := range left {
			if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > staleTempAge {
				os.RemoveAll(p)
			}
		}
	}
	if err := s.loadLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) recordDir() string { return filepath.Join(s.cfg.Dir, "oci") }
func (s *Store) rootfsDir() string { return filepath.Join(s.cfg.Dir, "rootfs") }

// RootFSPath is where the ext4 of the image with that manifest digest is.
func (s *Store) RootFSPath(digest string) string {
	return filepath.Join(s.rootfsDir(), strings.TrimPrefix(digest, "sha256:")+".ext4")
}

// key returns the mutex of one key, made on first use.
func (s *Store) key(k string) *sync.Mutex {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	m := s.keys[k]
	if m == nil {
		m = &sync.Mutex{}
		s.keys[k] = m
	}
	return m
}

// List returns every image, newest first.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(); err != nil {
		return nil, err
	}
	out := make([]*Image, 0, len(s.images))
	for _, img := range s.images {
		c := *img
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].Digest < out[j].Digest
	})
	return out, nil
}

// Get returns the image a name, a reference, a digest or a digest
// prefix (at least 12 hex digits) names.
func (s *Store) Get(ctx context.Context, refOrDigest string) (*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, err := s.lookupLocked(refOrDigest)
	if errors.Is(err, errdefs.ErrNotFound) {
		if lerr := s.loadLocked(); lerr != nil {
			return nil, lerr
		}
		img, err = s.lookupLocked(refOrDigest)
	}
	if err != nil {
		return nil, err
	}
	c := *img
	return &c, nil
}

func (s *Store) lookupLocked(q string) (*Image, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, errdefs.Invalid("name an image: a reference such as python:3.12-slim, or a digest")
	}
	if img := s.images[q]; img != nil {
		return img, nil
	}
	hexq := strings.TrimPrefix(q, "sha256:")
	if len(hexq) >= 12 && len(hexq) <= 64 && strings.Trim(hexq, "0123456789abcdef") == "" {
		var found *Image
		for d, img := range s.images {
			if strings.HasPrefix(strings.TrimPrefix(d, "sha256:"), hexq) {
				if found != nil {
					return nil, errdefs.Invalid("digest prefix %s names more than one image: give more digits", q)
				}
				found = img
			}
		}
		if found != nil {
			return found, nil
		}
	}
	names := []string{q}
	if n, err := normalize(q); err == nil && n != q {
		names = append(names, n)
	}
	for _, img := range s.images {
		for _, have := range img.Names {
			for _, n := range names {
				if have == n {
					return img, nil
				}
			}
		}
	}
	return nil, errdefs.NotFound("image %q is not in the store: pull or import it first", q)
}

// Delete removes an image: its record, its root filesystem and every blob
// no other image uses. It is refused while a sandbox or template uses it.
func (s *Store) Delete(ctx context.Context, refOrDigest string) error {
	s.gc.Lock()
	defer s.gc.Unlock()
	s.mu.Lock()
	img, err := s.lookupLocked(refOrDigest)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.cfg.InUse != nil {
		n, err := s.cfg.InUse(img.Digest)
		if err != nil {
			return fmt.Errorf("checking whether image %s is in use: %w", refOrDigest, err)
		}
		if n > 0 {
			return errdefs.Conflict("image %s is used by %d sandbox(es) or template(s): delete those first", refOrDigest, n)
		}
	}
	s.mu.Lock()
	delete(s.images, img.Digest)
	keep := map[string]bool{}
	for _, o := range s.images {
		for _, b := range o.blobs() {
			keep[b] = true
		}
	}
	s.mu.Unlock()
	if err := os.Remove(s.recordPath(img.Digest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	os.Remove(s.RootFSPath(img.Digest))
	for _, b := range img.blobs() {
		if !keep[b] {
			s.blobs.remove(b)
		}
	}
	s.log.Info("deleted image", "digest", img.Digest, "names", img.Names)
	return nil
}

// blobs are the digests of the blobs an image's record holds on to.
func (img *Image) blobs() []string {
	out := []string{img.Digest, img.ConfigDigest}
	if img.IndexDigest != "" {
		out = append(out, img.IndexDigest)
	}
	for _, l := range img.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// readBlob reads a small stored blob whole.
func (s *Store) readBlob(digest string, limit int64) ([]byte, error) {
	r, err := s.blobs.open(digest)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errdefs.Exhausted("blob %s is larger than %d bytes", digest, limit)
	}
	return b, nil
}
