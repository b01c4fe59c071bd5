package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/image/oci"
)

// Image is an image in the store: digest, names, layers, size and the
// config a sandbox uses (Env, WorkingDir, User, Entrypoint, Cmd).
type Image = oci.Image

// ImageProgress is one progress report of a pull or import.
type ImageProgress = oci.Progress

// The events of the image resource. Pull progress is published at each
// new phase and then at most every progressInterval, not per chunk.
const (
	EventImageProgress = "image.progress"
	EventImageStored   = "image.stored"
	EventImageDeleted  = "image.deleted"
)

// ImageStore is the image store the engine serves; *oci.Store implements
// it.
type ImageStore interface {
	Pull(ctx context.Context, ref string, opts oci.PullOptions) (*oci.Image, error)
	ImportPath(ctx context.Context, path string, opts oci.ImportOptions) (*oci.Image, error)
	ImportTarball(ctx context.Context, r io.Reader, opts oci.ImportOptions) (*oci.Image, error)
	List(ctx context.Context) ([]*oci.Image, error)
	Get(ctx context.Context, refOrDigest string) (*oci.Image, error)
	Delete(ctx context.Context, refOrDigest string) error
}

var _ ImageStore = (*oci.Store)(nil)

// Limits of image requests.
const (
	maxImageRefLen   = 512
	maxPublicKeyLen  = 16 << 10
	maxImageNameLen  = 255
	progressInterval = 2 * time.Second
)

// ImagePullRequest asks for an image: Ref pulls a registry reference
// (a tag or @sha256: digest); Path imports an OCI layout directory or a
// docker save / OCI tarball on the daemon's host.
type ImagePullRequest struct {
	// Ref is a registry reference, e.g. python:3.12-slim or
	// ghcr.io/owner/app@sha256:<digest>.
	Ref string `json:"ref,omitempty" doc:"A registry reference: a tag (python:3.12-slim) or a digest (name@sha256:...). An index resolves to its linux/amd64 image." maxLength:"512"`
	// Path is an OCI layout directory or a tarball on the daemon's host,
	// inside a directory the operator allows (image_import_dirs).
	Path string `json:"path,omitempty" doc:"An OCI layout directory or a docker save / OCI archive tarball on the daemon's host, inside one of the operator's image_import_dirs." maxLength:"4096"`
	// Name names an imported image (default: the names the layout or
	// tarball carries).
	Name string `json:"name,omitempty" doc:"The name to record an imported image under (default: the names the layout or tarball carries)." maxLength:"255"`
	// PublicKey, a PEM public key, requires a cosign signature by it.
	PublicKey string `json:"public_key,omitempty" doc:"A PEM public key: the pull then requires a cosign signature by it (checked offline)." maxLength:"16384"`
}

// Validate reports what is wrong with r.
func (r *ImagePullRequest) Validate() error {
	r.Ref, r.Path, r.Name = strings.TrimSpace(r.Ref), strings.TrimSpace(r.Path), strings.TrimSpace(r.Name)
	switch {
	case r.Ref == "" && r.Path == "":
		return errdefs.Invalid("say which image: ref (a registry reference such as python:3.12-slim) or path (an OCI layout or tarball on the daemon's host)")
	case r.Ref != "" && r.Path != "":
		return errdefs.Invalid("give ref or path, not both")
	case len(r.Ref) > maxImageRefLen:
		return errdefs.Invalid("ref is %d characters: at most %d", len(r.Ref), maxImageRefLen)
	case r.Path != "" && !filepath.IsAbs(r.Path):
		return errdefs.Invalid("path %q: give an absolute path on the daemon's host", r.Path)
	case r.Ref != "" && r.Name != "":
		return errdefs.Invalid("name is for imports: a pulled image is named by its ref")
	case r.Path != "" && r.PublicKey != "":
		return errdefs.Invalid("public_key is for pulls from a registry: an imported image carries no cosign signature")
	case len(r.PublicKey) > maxPublicKeyLen:
		return errdefs.Invalid("public_key is %d bytes: at most %d", len(r.PublicKey), maxPublicKeyLen)
	}
	return validImageName(r.Name)
}

func validImageName(n string) error {
	if oci.BuiltinNames[n] {
		return errdefs.Invalid("name %q is the built-in image's: choose another name", n)
	}
	if len(n) > maxImageNameLen {
		return errdefs.Invalid("name is %d characters: at most %d", len(n), maxImageNameLen)
	}
	if strings.ContainsAny(n, " \t\n\"'\\") {
		return errdefs.Invalid("name %q: use a reference-like name such as myapp:dev (no spaces or quotes)", n)
	}
	return nil
}

// ImageService is the engine's image resource: pull, import, list, get
// and delete images, with progress published as events.
type ImageService struct {
	store  ImageStore
	events Publisher
	log    *slog.Logger
}

// NewImageService serves store; events (may be nil) receives progress.
func NewImageService(store ImageStore, pub Publisher, log *slog.Logger) *ImageService {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ImageService{store: store, events: pub, log: log}
}

// Pull pulls or imports the image req names. progress, when set, gets
// every report (the events only some).
func (s *ImageService) Pull(ctx context.Context, req ImagePullRequest, progress func(ImageProgress)) (*Image, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	what := req.Ref
	if what == "" {
		what = req.Path
	}
	pf := s.progress(ctx, what, progress)
	var img *Image
	var err error
	if req.Ref != "" {
		img, err = s.store.Pull(ctx, req.Ref, oci.PullOptions{PublicKey: req.PublicKey, Progress: pf})
	} else {
		img, err = s.store.ImportPath(ctx, req.Path, oci.ImportOptions{Name: req.Name, Progress: pf})
	}
	if err != nil {
		return nil, err
	}
	s.publish(ctx, EventImageStored, map[string]any{"ref": what, "digest": img.Digest, "names": img.Names, "size": img.Size})
	return img, nil
}

// Upload imports a docker save or OCI archive tarball read from r, named
// name (optional).
func (s *ImageService) Upload(ctx context.Context, name string, r io.Reader, progress func(ImageProgress)) (*Image, error) {
	name = strings.TrimSpace(name)
	if err := validImageName(name); err != nil {
		return nil, err
	}
	img, err := s.store.ImportTarball(ctx, r, oci.ImportOptions{Name: name, Progress: s.progress(ctx, "upload", progress)})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, EventImageStored, map[string]any{"ref": "upload", "digest": img.Digest, "names": img.Names, "size": img.Size})
	return img, nil
}

// List returns every image, newest first.
func (s *ImageService) List(ctx context.Context) ([]*Image, error) {
	return s.store.List(ctx)
}

// Get returns the image a name, reference, digest or digest prefix names.
func (s *ImageService) Get(ctx context.Context, refOrDigest string) (*Image, error) {
	return s.store.Get(ctx, refOrDigest)
}

// Delete removes an image; it is refused while a sandbox or template
// uses it.
func (s *ImageService) Delete(ctx context.Context, refOrDigest string) error {
	img, err := s.store.Get(ctx, refOrDigest)
	if err != nil {
		return err
	}
	if err := s.store.Delete(ctx, img.Digest); err != nil {
		return err
	}
	s.publish(ctx, EventImageDeleted, map[string]any{"digest": img.Digest, "names": img.Names})
	return nil
}

// progress returns the store's progress callback: every report goes to
// fn, and a report goes to the event log at each new phase and then at
// most every progressInterval.
func (s *ImageService) progress(ctx context.Context, ref string, fn func(ImageProgress)) oci.ProgressFunc {
	var mu sync.Mutex
	var phase string
	var last time.Time
	return func(p oci.Progress) {
		// Reports carry what the request named (its ref, path, or
		// "upload"), so a client can pick out the progress of its own.
		p.Ref = ref
		if fn != nil {
			fn(p)
		}
		mu.Lock()
		emit := p.Phase != phase || time.Since(last) >= progressInterval
		if emit {
			phase, last = p.Phase, time.Now()
		}
		mu.Unlock()
		if emit {
			s.publish(ctx, EventImageProgress, p)
		}
	}
}

func (s *ImageService) publish(ctx context.Context, typ string, data any) {
	if s.events == nil {
		return
	}
	e := events.Event{Type: typ}
	if b, err := json.Marshal(data); err == nil {
		e.Data = b
	}
	if _, err := s.events.Publish(context.WithoutCancel(ctx), e); err != nil {
		s.log.Warn("publishing event", "type", typ, "err", err)
	}
}
