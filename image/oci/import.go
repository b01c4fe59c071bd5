package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/volant-sh/volant/errdefs"
)

// ImportOptions tune one import.
type ImportOptions struct {
	// Name, when set, is recorded as the image's name (e.g. "myapp:dev"
	// or "debian"); otherwise the names the layout or tarball carries are.
	Name string
	// Progress, when set, receives progress reports.
	Progress ProgressFunc
	// Source overrides the recorded source (e.g. "built-in").
	Source string
}

// ImportPath imports the image at path: an OCI layout directory, or a
// docker save or OCI archive tarball. path must lie in one of the
// operator's ImportDirs.
func (s *Store) ImportPath(ctx context.Context, path string, opts ImportOptions) (*Image, error) {
	p, err := s.allowedPath(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, errdefs.NotFound("import %s: %v", path, err)
	}
	if st.IsDir() {
		return s.importLayout(ctx, p, "oci-layout "+p, opts)
	}
	return s.importTarball(ctx, p, "tarball "+p, opts)
}

// ImportTarball imports a docker save or OCI archive tarball read from r
// (an upload): it is spooled to a temporary file of at most
// MaxImageBytes first, since a tarball is read out of order.
func (s *Store) ImportTarball(ctx context.Context, r io.Reader, opts ImportOptions) (*Image, error) {
	f, err := os.CreateTemp(s.rootfsDir(), ".tmp-upload-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, io.LimitReader(ctxReader{ctx, r}, s.cfg.MaxImageBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("receiving the tarball: %w", err)
	}
	if n > s.cfg.MaxImageBytes {
		return nil, errdefs.Exhausted("the tarball is over the %d MiB an image may be on this daemon", s.cfg.MaxImageBytes>>20)
	}
	if n == 0 {
		return nil, errdefs.Invalid("the tarball is empty: send a docker save or OCI archive tarball")
	}
	return s.importTarball(ctx, f.Name(), "upload", opts)
}

// allowedPath resolves path (symlinks too) and checks it lies in an
// import dir.
func (s *Store) allowedPath(path string) (string, error) {
	if len(s.cfg.ImportDirs) == 0 {
		return "", errdefs.Invalid("this daemon imports images from no host directory: the operator lists allowed directories in image_import_dirs, or upload the tarball instead")
	}
	if !filepath.IsAbs(path) {
		return "", errdefs.Invalid("import path %q: give an absolute path on the daemon's host", path)
	}
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", errdefs.NotFound("import path %s: %v", path, err)
	}
	for _, d := range s.cfg.ImportDirs {
		rd, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(rd, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return p, nil
		}
	}
	return "", errdefs.Invalid("import path %s is outside the directories this daemon imports from (%s)", path, strings.Join(s.cfg.ImportDirs, ", "))
}

// importLayout imports the linux/amd64 image of an OCI layout directory.
func (s *Store) importLayout(ctx context.Context, dir, source string, opts ImportOptions) (*Image, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, errdefs.Invalid("%s is not an OCI layout (oci-layout and index.json): %v", dir, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, errdefs.Invalid("%s: reading index.json: %v", dir, err)
	}
	img, names, err := pickFromIndex(idx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return s.addImported(ctx, img, names, source, opts)
}

// pickFromIndex finds the linux/amd64 image in an index (following nested
// indexes), with the ref names its descriptors carry.
func pickFromIndex(idx v1.ImageIndex) (v1.Image, []string, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, errdefs.Invalid("reading the image index: %v", err)
	}
	var images []v1.Descriptor
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsImage():
			if d.Platform == nil || d.Platform.OS == Platform.OS && d.Platform.Architecture == Platform.Architecture {
				images = append(images, d)
			}
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, nil, err
			}
			if img, names, err := pickFromIndex(child); err == nil {
				if n := d.Annotations["org.opencontainers.image.ref.name"]; n != "" {
					names = append(names, n)
				}
				return img, names, nil
			}
		}
	}
	if len(images) == 0 {
		return nil, nil, errdefs.NotFound("no linux/amd64 image in the index")
	}
	if len(images) > 1 {
		return nil, nil, errdefs.Invalid("the index holds %d images: import one image at a time", len(images))
	}
	img, err := idx.Image(images[0].Digest)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	if n := images[0].Annotations["org.opencontainers.image.ref.name"]; n != "" {
		names = append(names, n)
	}
	return img, names, nil
}

// importTarball imports a docker save tarball (manifest.json) or an OCI
// archive (oci-layout and index.json in a tar).
func (s *Store) importTarball(ctx context.Context, path, source string, opts ImportOptions) (*Image, error) {
	kind, err := tarKind(path)
	if err != nil {
		return nil, err
	}
	if kind == "oci" {
		dir, err := os.MkdirTemp(s.rootfsDir(), ".tmp-layout-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if err := untarPlain(path, dir); err != nil {
			return nil, err
		}
		return s.importLayout(ctx, dir, source, opts)
	}
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, errdefs.Invalid("reading the docker save manifest.json: %v", err)
	}
	if len(m) != 1 {
		return nil, errdefs.Invalid("the tarball holds %d images: save one image per tarball", len(m))
	}
	img, err := tarball.Image(opener, nil)
	if err != nil {
		return nil, errdefs.Invalid("reading the docker save tarball: %v", err)
	}
	var names []string
	for _, t := range m[0].RepoTags {
		if tag, err := name.NewTag(t); err == nil {
			names = append(names, tag.Name())
		}
	}
	return s.addImported(ctx, img, names, source, opts)
}

func (s *Store) addImported(ctx context.Context, img v1.Image, names []string, source string, opts ImportOptions) (*Image, error) {
	if opts.Name != "" {
		names = []string{opts.Name}
	}
	if opts.Source != "" {
		source = opts.Source
	}
	ref := source
	if len(names) > 0 {
		ref = names[0]
	}
	out, err := s.add(ctx, ingest{img: img, ref: ref, names: names, source: source, progress: opts.Progress})
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", ref, err)
	}
	return out, nil
}

// tarKind says whether the tarball at path is a docker save ("docker") or
// an OCI archive ("oci").
func tarKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", errdefs.Invalid("the tarball has neither manifest.json (docker save) nor oci-layout (OCI archive)")
		}
		if err != nil {
			return "", errdefs.Invalid("the file is not a tar archive: %v", err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "manifest.json":
			return "docker", nil
		case "oci-layout":
			return "oci", nil
		}
	}
}

// untarPlain extracts the regular files and directories of an OCI archive
// into dir; any other entry, or a name leaving dir, is refused.
func untarPlain(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errdefs.Invalid("reading the OCI archive: %v", err)
		}
		rel := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if rel == "." {
			continue
		}
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return errdefs.Invalid("the OCI archive's entry %q leaves the archive", h.Name)
		}
		p := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return errdefs.Invalid("the OCI archive's entry %q is not a plain file or directory", h.Name)
		}
	}
}

// AddImage stores an image made in process, such as the built-in debian
// image, under opts.Name.
func (s *Store) AddImage(ctx context.Context, img v1.Image, opts ImportOptions) (*Image, error) {
	source := opts.Source
	if source == "" {
		source = "built-in"
	}
	return s.addImported(ctx, img, nil, source, opts)
}
