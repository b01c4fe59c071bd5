package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci/convert"
)

// The phases of a pull or import, as Progress reports them.
const (
	PhaseFetch   = "fetch"   // blobs: Done and Total are bytes
	PhaseConvert = "convert" // layers applied: Done is bytes of files written
	PhaseMkfs    = "mkfs"    // making the ext4 file
	PhaseDone    = "done"
)

// Progress is one report of a pull or import in progress.
type Progress struct {
	Phase  string `json:"phase"`
	Ref    string `json:"ref,omitempty"`
	Digest string `json:"digest,omitempty"`
	Done   int64  `json:"done"`
	Total  int64  `json:"total,omitempty"`
}

// ProgressFunc receives Progress reports. It is called often (for every
// chunk of a blob): it must be quick and do its own throttling.
type ProgressFunc func(Progress)

// ingest is one image going into the store.
type ingest struct {
	img         v1.Image
	ref         string   // for Progress
	names       []string // recorded on success
	source      string
	indexDigest string
	indexRaw    []byte
	signedBy    string
	progress    ProgressFunc
}

// add stores in's blobs (each checked against its digest), converts the
// image to its ext4 and records it. On any failure the blobs it wrote and
// any partial root filesystem are removed again, so nothing of a failed
// pull stays.
func (s *Store) add(ctx context.Context, in ingest) (img *Image, err error) {
	s.gc.RLock()
	defer s.gc.RUnlock()
	if in.progress == nil {
		in.progress = func(Progress) {}
	}
	raw, err := in.img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the image manifest: %w", err)
	}
	if len(raw) > maxManifestBytes {
		return nil, errdefs.Exhausted("the image manifest is over %d MiB", maxManifestBytes>>20)
	}
	sum := sha256.Sum256(raw)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, errdefs.Invalid("the image manifest is not valid: %v", err)
	}
	switch m.MediaType {
	case "", types.OCIManifestSchema1, types.DockerManifestSchema2:
	default:
		return nil, errdefs.Invalid("manifest media type %q is not an image manifest: Volant takes OCI and Docker schema 2 images", m.MediaType)
	}
	total := m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	if total > s.cfg.MaxImageBytes {
		return nil, errdefs.Exhausted("the image is %d MiB compressed, more than the %d MiB an image may be on this daemon", total>>20, s.cfg.MaxImageBytes>>20)
	}

	// The blobs of this image are pinned while it goes in, so a
	// concurrent pull that fails does not remove a blob this one found
	// already there and counts on.
	pinned := []string{digest, m.Config.Digest.String()}
	for _, l := range m.Layers {
		pinned = append(pinned, l.Digest.String())
	}
	if in.indexDigest != "" {
		pinned = append(pinned, in.indexDigest)
	}
	s.pin(pinned, 1)
	var written []string
	defer func() {
		s.pin(pinned, -1)
		if err != nil {
			for _, d := range written {
				if !s.blobInUse(d) {
					s.blobs.remove(d)
				}
			}
		}
	}()
	put := func(d string, size int64, r io.Reader, count func(int64)) error {
		wrote, err := s.blobs.put(d, size, s.cfg.MaxBlobBytes, r, count)
		if wrote {
			written = append(written, d)
		}
		return err
	}
	var done int64
	report := func(n int64) {
		done += n
		in.progress(Progress{Phase: PhaseFetch, Ref: in.ref, Digest: digest, Done: done, Total: total})
	}
	if in.indexRaw != nil {
		if err := put(in.indexDigest, int64(len(in.indexRaw)), bytes.NewReader(in.indexRaw), nil); err != nil {
			return nil, err
		}
	}
	if err := put(digest, int64(len(raw)), bytes.NewReader(raw), nil); err != nil {
		return nil, err
	}
	if !s.blobs.has(m.Config.Digest.String(), m.Config.Size) {
		cfg, err := in.img.RawConfigFile()
		if err != nil {
			return nil, fmt.Errorf("fetching the image config: %w", err)
		}
		if err := put(m.Config.Digest.String(), m.Config.Size, bytes.NewReader(cfg), report); err != nil {
			return nil, err
		}
	} else {
		report(m.Config.Size)
	}
	for _, l := range m.Layers {
		if s.blobs.has(l.Digest.String(), l.Size) {
			report(l.Size)
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		layer, err := in.img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, fmt.Errorf("fetching layer %s: %w", l.Digest, err)
		}
		err = put(l.Digest.String(), l.Size, ctxReader{ctx, rc}, report)
		rc.Close()
		if err != nil {
			return nil, classifyBlobErr(l.Digest.String(), err)
		}
	}

	cfgRaw, err := s.readBlob(m.Config.Digest.String(), maxManifestBytes)
	if err != nil {
		return nil, err
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(cfgRaw, &cf); err != nil {
		return nil, errdefs.Invalid("the image config is not valid JSON: %v", err)
	}
	if cf.OS != "" && cf.OS != "linux" || cf.Architecture != "" && cf.Architecture != "amd64" {
		return nil, errdefs.Invalid("the image is for %s/%s: Volant runs linux/amd64 images", cf.OS, cf.Architecture)
	}
	img = &Image{
		Digest: digest, IndexDigest: in.indexDigest, Names: union(nil, in.names), Source: in.source,
		MediaType: string(m.MediaType), ConfigDigest: m.Config.Digest.String(),
		Size: total + int64(len(raw)), SignedBy: in.signedBy, CreatedAt: time.Now().UTC(),
		Config: ImageConfig{Env: cf.Config.Env, WorkingDir: cf.Config.WorkingDir, User: cf.Config.User,
			Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd, Labels: cf.Config.Labels},
	}
	if img.MediaType == "" {
		img.MediaType = string(types.OCIManifestSchema1)
	}
	for _, l := range m.Layers {
		img.Layers = append(img.Layers, Layer{Digest: l.Digest.String(), Size: l.Size, MediaType: string(l.MediaType)})
	}
	if err := s.convert(ctx, img, in.progress); err != nil {
		return nil, err
	}
	if st, err := os.Stat(s.RootFSPath(digest)); err == nil {
		img.RootFSSize = st.Size()
	}
	if err := s.save(img); err != nil {
		return nil, err
	}
	in.progress(Progress{Phase: PhaseDone, Ref: in.ref, Digest: digest, Done: total, Total: total})
	s.log.Info("image stored", "digest", digest, "names", img.Names, "source", img.Source, "new_blobs", len(written))
	c := *s.images[digest]
	return &c, nil
}

// pin adds n to the pins of each blob.
func (s *Store) pin(ds []string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		if s.pins[d] += n; s.pins[d] <= 0 {
			delete(s.pins, d)
		}
	}
}

// blobInUse reports whether a recorded image holds on to the blob, or a
// pull in flight has it pinned.
func (s *Store) blobInUse(d string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pins[d] > 0 {
		return true
	}
	for _, img := range s.images {
		for _, b := range img.blobs() {
			if b == d {
				return true
			}
		}
	}
	return false
}

// classifyBlobErr makes a digest mismatch reported by go-containerregistry
// as clear as the store's own.
func classifyBlobErr(d string, err error) error {
	if errors.Is(err, errdefs.ErrInvalidArgument) || errors.Is(err, errdefs.ErrResourceExhausted) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if strings.Contains(err.Error(), "verifying") {
		return errdefs.Invalid("layer %s: the source served content that does not match its digest (%v)", d, err)
	}
	return err
}

// convert makes the image's ext4 unless it is there: the layers, read back
// from the store, are applied into a temporary tree, which mkfs.ext4 -d
// turns into a temporary file renamed into place.
func (s *Store) convert(ctx context.Context, img *Image, progress ProgressFunc) error {
	mu := s.key("rootfs " + img.Digest)
	mu.Lock()
	defer mu.Unlock()
	out := s.RootFSPath(img.Digest)
	if _, err := os.Stat(out); err == nil {
		return nil
	}
	start := time.Now()
	tmp, err := os.MkdirTemp(s.rootfsDir(), ".tmp-tree-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	a := convert.NewApplier(root)
	a.MaxBytes = s.cfg.MaxUnpackedBytes
	a.Progress = func(n int64) { progress(Progress{Phase: PhaseConvert, Digest: img.Digest, Done: n}) }
	for i, l := range img.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := s.blobs.open(l.Digest)
		if err != nil {
			return err
		}
		err = a.Apply(ctxReader{ctx, r})
		r.Close()
		if err != nil {
			return fmt.Errorf("converting the image (layer %d of %d, %s): %w", i+1, len(img.Layers), l.Digest, err)
		}
	}
	if err := a.Finish(); err != nil {
		return err
	}
	progress(Progress{Phase: PhaseMkfs, Digest: img.Digest, Done: a.Written()})
	f, err := os.CreateTemp(s.rootfsDir(), ".tmp-ext4-")
	if err != nil {
		return err
	}
	f.Close()
	defer os.Remove(f.Name())
	if err := convert.MakeExt4(ctx, root, f.Name()); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return err
	}
	s.log.Info("converted image to ext4", "digest", img.Digest, "files_mib", a.Written()>>20,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
