package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci/convert"
)

// A plugin's root filesystem. Without one, a plugin's files and workload
// go into the default guest (busybox in the initramfs). With one, kestrel
// starts every process of the sandbox inside that root, so the artifacts
// (written through the agent) land in it and the workload runs in it; the
// plugin's templates are keyed by the root's digest.

// Kinds of root filesystem (RootFS.Kind).
const (
	// RootFSOCI is an OCI image from a registry, pinned by digest.
	RootFSOCI = "oci"
	// RootFSImage is an image the daemon builds itself, by name (debian).
	RootFSImage = "image"
	// RootFSFile is an ext4 or tar file, by path under the plugin
	// directories or by URL, with its sha256.
	RootFSFile = "rootfs"
)

// RootFS names a plugin's root filesystem.
type RootFS struct {
	// Kind is "oci", "image" or "rootfs".
	Kind string `json:"kind"`
	// Ref (kind oci) is an image reference pinned by digest, such as
	// "registry.example/app@sha256:<64 hex>"; a tag alone is refused, so
	// the plugin always runs the image it was tested with.
	Ref string `json:"ref,omitempty"`
	// Name (kind image) is a built-in image's name: "debian".
	Name string `json:"name,omitempty"`
	// Packages (kind image) are Debian packages installed on top of the
	// built-in image's own (such as python3-numpy): the daemon builds
	// that image when the plugin is installed, once per set of packages.
	Packages []string `json:"packages,omitempty"`
	// Image is set by the registry (kind image with packages): the name
	// the built image is registered under in the image store. Leave it
	// out of a manifest.
	Image string `json:"image,omitempty"`
	// Path or URL (kind rootfs, exactly one) is the ext4 or tar (plain,
	// gzip or zstd) file: a path under the daemon's plugin directories,
	// or an http(s) URL on a public address.
	Path string `json:"path,omitempty"`
	URL  string `json:"url,omitempty"`
	// SHA256 (kind rootfs, required) is the file's hex digest.
	SHA256 string `json:"sha256,omitempty"`
	// Signature (kind rootfs) is the base64 signature of the file's
	// bytes (cosign sign-blob --key); required when a key is. An OCI
	// image's signature is the cosign one stored beside it in its
	// registry.
	Signature string `json:"signature,omitempty"`
	// Ext4SHA256 is set by the registry (kind rootfs): the digest of the
	// ext4 file it keeps, the file itself or the tar converted. Leave it
	// out of a manifest.
	Ext4SHA256 string `json:"ext4_sha256,omitempty"`
}

// MaxRootFSUnpackedBytes bounds the file content a tar rootfs unpacks to.
const MaxRootFSUnpackedBytes = 32 << 30

// BuiltinImages are the image names a manifest's rootfs of kind image
// may give.
var BuiltinImages = []string{"debian"}

// pinnedRef matches an image reference pinned by digest.
var pinnedRef = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._:/-]*@sha256:[0-9a-f]{64}$`)

// RootRuntime is a plugin's root filesystem as the engine uses it.
type RootRuntime struct {
	// Kind is the manifest's kind.
	Kind string
	// Ref is what the image store resolves (kinds oci and image): the
	// pinned reference or the built-in image's name.
	Ref string
	// Path and Digest (kind rootfs) are the ext4 file the registry keeps
	// and its digest ("sha256:...").
	Path, Digest string
}

// validate checks a manifest's rootfs.
func (r *RootFS) validate(p *problems) {
	const f = "rootfs"
	set := func(field, v string) {
		if v != "" {
			p.add(f+"."+field, "is set but kind %q does not take it; remove it", r.Kind)
		}
	}
	if r.Ext4SHA256 != "" {
		p.add(f+".ext4_sha256", "is set by the registry; remove it from the manifest")
	}
	if r.Image != "" {
		p.add(f+".image", "is set by the registry; remove it from the manifest")
	}
	if len(r.Packages) > 0 && r.Kind != RootFSImage {
		p.add(f+".packages", "is set but kind %q does not take it; extra packages go with kind image (name debian)", r.Kind)
	}
	switch r.Kind {
	case RootFSOCI:
		switch {
		case r.Ref == "":
			p.add(f+".ref", "is empty; give the image reference pinned by digest, such as registry.example/app@sha256:<64 hex>")
		case !strings.Contains(r.Ref, "@"):
			p.add(f+".ref", "%q names a tag, not a digest; pin it as %s@sha256:<digest> (the digest volar image get shows), so the plugin always runs the image it was built for", r.Ref, r.Ref)
		case !pinnedRef.MatchString(r.Ref):
			p.add(f+".ref", "%q is not a reference pinned by digest; write it as registry/repository@sha256:<64 lowercase hex>", r.Ref)
		}
		set("name", r.Name)
		set("path", r.Path)
		set("url", r.URL)
		set("sha256", r.SHA256)
		set("signature", r.Signature)
	case RootFSImage:
		if !slices.Contains(BuiltinImages, r.Name) {
			p.add(f+".name", "is %q; give a built-in image: %s", r.Name, strings.Join(BuiltinImages, ", "))
		}
		set("ref", r.Ref)
		set("path", r.Path)
		set("url", r.URL)
		set("sha256", r.SHA256)
		set("signature", r.Signature)
		validatePackages(p, r.Packages)
	case RootFSFile:
		switch {
		case r.Path == "" && r.URL == "":
			p.add(f, "has neither path nor url; give the ext4 or tar file's path under the daemon's plugin directories, or an http(s) URL")
		case r.Path != "" && r.URL != "":
			p.add(f, "has both path and url; keep one of them")
		case r.Path != "":
			if isURLSource(r.Path) {
				p.add(f+".path", "%q is a URL; give it in url", r.Path)
			} else if err := checkSource(r.Path); err != nil {
				p.add(f+".path", "%v", err)
			}
		default:
			if !isURLSource(r.URL) {
				p.add(f+".url", "%q is not an http(s) URL; give a file under the plugin directories in path instead", r.URL)
			} else if err := checkSource(r.URL); err != nil {
				p.add(f+".url", "%v", err)
			}
		}
		switch {
		case r.SHA256 == "":
			p.add(f+".sha256", "is required; set it to the file's hex digest (sha256sum)")
		case !isDigest(r.SHA256):
			p.add(f+".sha256", "%q is not a sha256 digest; give the 64 lowercase hex digits sha256sum prints", r.SHA256)
		}
		if r.Signature != "" && !isBase64(r.Signature) {
			p.add(f+".signature", "is not base64; give the signature cosign sign-blob --key prints")
		}
		set("ref", r.Ref)
		set("name", r.Name)
	case "":
		p.add(f+".kind", "is empty; use oci (an image pinned by digest), image (a built-in image) or rootfs (an ext4 or tar file)")
	default:
		p.add(f+".kind", "is %q; use oci (an image pinned by digest), image (a built-in image) or rootfs (an ext4 or tar file)", r.Kind)
	}
}

// source is where a rootfs file comes from: its path or its URL.
func (r *RootFS) source() string {
	if r.URL != "" {
		return r.URL
	}
	return r.Path
}

// storeRootFS makes a manifest's rootfs ready before the plugin is
// recorded: an OCI image is pulled (its signature checked when keys are
// required); a rootfs file is stored among the blobs, verified (sha256,
// signature), and a tar converted into an ext4, whose digest goes into
// m.RootFS.Ext4SHA256. It returns the blobs it created.
func (r *Registry) storeRootFS(ctx context.Context, m *Manifest, keys []*verifier) (created []string, err error) {
	rf := m.RootFS
	switch rf.Kind {
	case RootFSOCI:
		if r.cfg.Images == nil {
			if len(keys) > 0 {
				return nil, errdefs.Invalid("rootfs.ref: a signature is required but this daemon has no image store to check it; install the plugin on a daemon with images")
			}
			return nil, nil // pulled by the first sandbox
		}
		var pems []string
		for _, k := range keys {
			pems = append(pems, k.pem)
		}
		if err := r.cfg.Images.Pull(ctx, rf.Ref, pems); err != nil {
			return nil, fmt.Errorf("rootfs.ref: pulling %s: %w", rf.Ref, err)
		}
		return nil, nil
	case RootFSImage:
		if rf.Image != "" { // built by Install
			return nil, nil
		}
		return nil, r.buildImage(ctx, m.Name, rf)
	}
	const field = "rootfs"
	rc, err := r.openRootFSSource(ctx, rf)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	sum, _, isNew, err := r.blobs.put(ctx, rc, rf.SHA256)
	var mismatch *digestMismatch
	switch {
	case errors.As(err, &mismatch):
		return nil, errdefs.Invalid("%s.sha256: the file %s does not have the manifest's sha256 %s; fix the digest (sha256sum the file) or the file", field, rf.source(), mismatch.want)
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("storing the rootfs: %w", err)
	case err != nil:
		return nil, errdefs.Invalid("%s: reading %s failed: %v", field, rf.source(), err)
	}
	if isNew {
		created = append(created, sum)
	}
	defer func() {
		if err != nil {
			r.dropBlobs(created)
			created = nil
		}
	}()
	if err := r.checkSignature(ctx, field, rf.Signature, sum, keys); err != nil {
		return created, err
	}
	isExt4, err := r.blobs.isExt4(sum)
	if err != nil {
		return created, err
	}
	if isExt4 {
		rf.Ext4SHA256 = sum
		return created, nil
	}
	ext, extNew, err := r.convertTar(ctx, sum)
	if err != nil {
		return created, err
	}
	if extNew {
		created = append(created, ext)
	}
	// Only the ext4 is kept: the tar's digest stays in the manifest.
	if isNew {
		_ = r.blobs.remove(sum)
		created = created[1:]
	}
	rf.Ext4SHA256 = ext
	return created, nil
}

func (r *Registry) openRootFSSource(ctx context.Context, rf *RootFS) (io.ReadCloser, error) {
	if rf.URL != "" {
		return fetchURL(ctx, "rootfs.url", rf.URL)
	}
	f, err := openUnder(r.cfg.SourceDirs, rf.Path)
	if err != nil {
		r.log.Info("rootfs source refused", "source", rf.Path, "err", err)
		if len(r.cfg.SourceDirs) == 0 {
			return nil, errdefs.Invalid("rootfs.path: %q: this daemon takes no plugin files from its host (no plugin_dirs configured); give an http(s) URL in url", rf.Path)
		}
		return nil, errdefs.Invalid("rootfs.path: %q is not a readable regular file under the daemon's plugin directories (%s); put the file there or give an http(s) URL in url",
			rf.Path, strings.Join(r.cfg.SourceDirs, ", "))
	}
	return f, nil
}

// isExt4 says whether the blob sum is an ext4 file system (its
// superblock's magic), rather than a tar.
func (b blobs) isExt4(sum string) (bool, error) {
	f, err := os.Open(b.path(sum))
	if err != nil {
		return false, err
	}
	defer f.Close()
	magic := make([]byte, 2)
	if _, err := f.ReadAt(magic, 1024+0x38); err != nil {
		return false, nil // too short for ext4
	}
	return magic[0] == 0x53 && magic[1] == 0xEF, nil
}

// convertTar unpacks the tar blob sum (owners, modes, device nodes kept,
// no path leaving the root) and makes an ext4 file of it, stored as a
// blob. It returns the ext4's digest and whether that blob is new.
func (r *Registry) convertTar(ctx context.Context, sum string) (string, bool, error) {
	if os.Geteuid() != 0 {
		return "", false, errdefs.Unavailable("rootfs: the file is not an ext4 file system, and unpacking a tar keeps its owners and device nodes, which needs the daemon to run as root; give an ext4 file (mkfs.ext4 -d) or run the daemon as root")
	}
	tmp, err := os.MkdirTemp(r.blobs.dir, tmpPrefix+"tree-")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return "", false, err
	}
	in, err := os.Open(r.blobs.path(sum))
	if err != nil {
		return "", false, err
	}
	a := convert.NewApplier(root)
	a.MaxBytes = MaxRootFSUnpackedBytes
	err = a.Apply(ctxReader{ctx, in})
	in.Close()
	if err == nil {
		err = a.Finish()
	}
	if err != nil {
		return "", false, errdefs.Invalid("rootfs: the file is neither an ext4 file system nor a tar that unpacks: %v", err)
	}
	out := filepath.Join(tmp, "rootfs.ext4")
	if err := convert.MakeExt4(ctx, root, out); err != nil {
		return "", false, fmt.Errorf("rootfs: making an ext4 of the tar: %w", err)
	}
	f, err := os.Open(out)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	ext, _, isNew, err := r.blobs.put(ctx, f, "")
	return ext, isNew, err
}

// rootRuntime is the engine's view of a stored manifest's rootfs, and
// the problem of a missing ext4 file.
func (e *entry) rootRuntime(b blobs) *RootRuntime {
	rf := e.manifest.RootFS
	if rf == nil {
		return nil
	}
	switch rf.Kind {
	case RootFSOCI:
		return &RootRuntime{Kind: rf.Kind, Ref: rf.Ref}
	case RootFSImage:
		if rf.Image != "" {
			return &RootRuntime{Kind: rf.Kind, Ref: rf.Image}
		}
		return &RootRuntime{Kind: rf.Kind, Ref: rf.Name}
	}
	return &RootRuntime{Kind: rf.Kind, Path: b.path(rf.Ext4SHA256), Digest: "sha256:" + rf.Ext4SHA256}
}
