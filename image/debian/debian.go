// Package debian builds Volant's built-in image: a Debian userland made
// from Debian's packages with mmdebstrap (minbase bookworm plus what an
// agent needs to write and run code: python3, pip, venv, git, curl and
// ca-certificates), stored as a one-layer OCI image named "debian".
// No registry is involved: mmdebstrap uses the host's apt sources.
package debian

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
)

// BuilderVersion changes whenever the way the image is built changes, so
// cached builds are made again.
const BuilderVersion = "volant-debian/1"

// Name is the name the image is registered under.
const Name = "debian"

// DefaultSuite is the Debian release.
const DefaultSuite = "bookworm"

// DefaultPackages are installed on top of minbase. No C toolchain:
// build-essential would add about 260 MB (gcc, g++, make, libc6-dev: the
// tree grows from 311 to 571 MB, the build from 3.5 to 6.3 minutes here) and
// most Python packages install from binary wheels.
var DefaultPackages = []string{"python3", "python3-pip", "python3-venv", "git", "curl", "ca-certificates"}

// ToolchainPackages add a C toolchain, for images that build native code.
var ToolchainPackages = []string{"build-essential"}

// Options configure Build.
type Options struct {
	// CacheDir keeps built tarballs, keyed by suite, packages and
	// BuilderVersion (e.g. STATE_DIR/images/debian).
	CacheDir string
	// Suite is the Debian release; default DefaultSuite.
	Suite string
	// Packages are installed on top of minbase; nil means
	// DefaultPackages.
	Packages []string
	// Mmdebstrap is the mmdebstrap binary; default "mmdebstrap" on PATH.
	Mmdebstrap string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Progress, when set, receives each line mmdebstrap prints while it
	// builds.
	Progress func(line string)
	// ImageName is the name the image is registered under; default Name.
	ImageName string
}

func (o Options) withDefaults() Options {
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if o.Packages == nil {
		o.Packages = DefaultPackages
	}
	if o.Mmdebstrap == "" {
		o.Mmdebstrap = "mmdebstrap"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ImageName == "" {
		o.ImageName = Name
	}
	return o
}

// Key is the cache key of a build: suite, sorted packages, builder
// version.
func (o Options) Key() string {
	o = o.withDefaults()
	pk := append([]string(nil), o.Packages...)
	sort.Strings(pk)
	sum := sha256.Sum256([]byte(BuilderVersion + "\n" + o.Suite + "\n" + strings.Join(pk, ",")))
	return hex.EncodeToString(sum[:])[:16]
}

// BuildTar returns the path of the userland tarball for opts, building it
// with mmdebstrap unless it is cached.
func BuildTar(ctx context.Context, opts Options) (string, error) {
	opts = opts.withDefaults()
	if opts.CacheDir == "" || !filepath.IsAbs(opts.CacheDir) {
		return "", errdefs.Invalid("debian image: cache dir %q must be an absolute path", opts.CacheDir)
	}
	out := filepath.Join(opts.CacheDir, "debian-"+opts.Suite+"-"+opts.Key()+".tar")
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out, nil
	}
	bin, err := exec.LookPath(opts.Mmdebstrap)
	if err != nil {
		return "", errdefs.Unavailable("building the debian image needs mmdebstrap: apt-get install mmdebstrap")
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp-%d.tar", out, os.Getpid())
	defer os.Remove(tmp)
	args := []string{"--variant=minbase", "--mode=root", "--format=tar",
		// mmdebstrap leaves no apt lists or package caches in the image;
		// apt-get update in a sandbox fetches fresh lists.
		"--include=" + strings.Join(opts.Packages, ","),
		opts.Suite, tmp}
	start := time.Now()
	opts.Logger.Info("building the debian image with mmdebstrap", "suite", opts.Suite, "packages", opts.Packages)
	cmd := exec.CommandContext(ctx, bin, args...)
	var log strings.Builder
	var w io.Writer = &log
	var lines *lineWriter
	if opts.Progress != nil {
		lines = &lineWriter{fn: opts.Progress}
		w = io.MultiWriter(&log, lines)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	if lines != nil {
		lines.flush()
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		tail := log.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return "", fmt.Errorf("mmdebstrap %s: %v: %s", opts.Suite, err, strings.TrimSpace(tail))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	st, _ := os.Stat(out)
	opts.Logger.Info("built the debian userland", "tar_mib", st.Size()>>20, "took", time.Since(start).Round(time.Second))
	return out, nil
}

// Build builds (or finds cached) the userland and registers it in store
// as the image named Name.
func Build(ctx context.Context, store *oci.Store, opts Options) (*oci.Image, error) {
	opts = opts.withDefaults()
	tar, err := BuildTar(ctx, opts)
	if err != nil {
		return nil, err
	}
	img, err := Image(tar, opts)
	if err != nil {
		return nil, err
	}
	return store.AddImage(ctx, img, oci.ImportOptions{Name: opts.ImageName, Source: "built-in " + opts.Suite + " " + opts.Key()})
}

// lineWriter calls fn with each complete line written to it (output
// of both streams of one command, written by one goroutine at a time).
type lineWriter struct {
	mu  sync.Mutex
	fn  func(string)
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(w.buf[:i])); line != "" {
			w.fn(line)
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a line that never ends is cut
		w.fn(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if line := strings.TrimSpace(string(w.buf)); line != "" {
		w.fn(line)
	}
	w.buf = nil
}

// Image wraps the userland tarball as a one-layer OCI image (the layer
// uncompressed, as the tarball is) with a config for agents.
func Image(tarPath string, opts Options) (v1.Image, error) {
	opts = opts.withDefaults()
	l, err := newFileLayer(tarPath)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"LANG=C.UTF-8", "PYTHONUNBUFFERED=1"},
		WorkingDir: "/root",
		Cmd:        []string{"/bin/bash"},
		Labels: map[string]string{"org.opencontainers.image.title": "volant debian " + opts.Suite,
			"sh.volant.image.packages": strings.Join(opts.Packages, ","), "sh.volant.image.builder": BuilderVersion},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.MediaType(img, types.OCIManifestSchema1), nil
}

// fileLayer is an uncompressed tar file as an OCI layer: its digest is
// its diff id, and nothing is compressed.
type fileLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

func newFileLayer(path string) (*fileLayer, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("%s does not exist", path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, n, err := v1.SHA256(f)
	if err != nil {
		return nil, err
	}
	return &fileLayer{path: path, digest: h, size: n}, nil
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCIUncompressedLayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }

var _ v1.Layer = (*fileLayer)(nil)
