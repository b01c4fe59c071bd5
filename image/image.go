package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// BuilderVersion is part of every image digest; bump it whenever Build
// would produce different bytes from the same inputs.
const BuilderVersion = "3"

// File names inside an image directory.
const (
	ManifestName  = "manifest.json"
	VmlinuxName   = "vmlinux"
	BzImageName   = "bzImage"
	initramfsBase = "initramfs.cpio"
	currentName   = "current"
)

// Image is a built guest image.
type Image struct {
	// Dir is the image directory, <Options.Dir>/<Digest>.
	Dir string
	// Digest is the hex sha256 over the builder version and the inputs.
	Digest string
	// Kernel is the uncompressed vmlinux with a PVH entry.
	Kernel string
	// BzImage is the compressed kernel as Debian ships it.
	BzImage string
	// Initramfs is the initramfs (a cpio, gzip-compressed if chosen).
	Initramfs string
	// KernelRelease is the kernel's `uname -r`, e.g. 6.1.0-56-cloud-amd64.
	KernelRelease string
	// Manifest is the content of manifest.json.
	Manifest Manifest
}

// Manifest describes how an image was built and what it holds.
type Manifest struct {
	BuilderVersion string      `json:"builder_version"`
	Digest         string      `json:"digest"`
	Kernel         KernelInfo  `json:"kernel"`
	Busybox        BusyboxInfo `json:"busybox"`
	Kestrel        KestrelInfo `json:"kestrel"`
	Compression    Compression `json:"compression"`
	// Modules are the guest paths of the kernel modules in load order,
	// the content of /etc/kestrel/modules.
	Modules []string `json:"modules"`
	// Files are the image directory's files other than the manifest,
	// sorted by name.
	Files []FileInfo `json:"files"`
}

// KernelInfo identifies the kernel package an image came from.
type KernelInfo struct {
	Package string `json:"package"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"` // of the .deb
	Release string `json:"release"`
}

// BusyboxInfo identifies the busybox binary in an image.
type BusyboxInfo struct {
	SHA256  string `json:"sha256"`
	Version string `json:"version"`
}

// KestrelInfo identifies the kestrel binary in an image.
type KestrelInfo struct {
	SHA256 string `json:"sha256"`
}

// FileInfo is one output file of an image.
type FileInfo struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Load returns the image in dir after checking, cheaply, that it is
// intact: the manifest parses and every file it lists exists with the
// recorded size. A missing or damaged image is an errdefs.ErrNotFound.
func Load(dir string) (*Image, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("image %s: no %s; build the image first", dir, ManifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("loading image %s: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errdefs.NotFound("image %s: %s is damaged (%v); remove the directory and build again", dir, ManifestName, err)
	}
	img := &Image{Dir: dir, Digest: m.Digest, KernelRelease: m.Kernel.Release, Manifest: m}
	for _, f := range m.Files {
		st, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil || st.Size() != f.Size {
			return nil, errdefs.NotFound("image %s: %s is missing or has the wrong size; remove the directory and build again", dir, f.Name)
		}
		switch {
		case f.Name == VmlinuxName:
			img.Kernel = filepath.Join(dir, f.Name)
		case f.Name == BzImageName:
			img.BzImage = filepath.Join(dir, f.Name)
		case strings.HasPrefix(f.Name, initramfsBase):
			img.Initramfs = filepath.Join(dir, f.Name)
		}
	}
	if img.Kernel == "" || img.Initramfs == "" || img.Digest == "" {
		return nil, errdefs.NotFound("image %s: manifest lacks the kernel, initramfs or digest; build again", dir)
	}
	return img, nil
}

// Current returns the image most recently built (or found cached) by Build
// under root, without building anything. It is an errdefs.ErrNotFound
// when there is none.
func Current(root string) (*Image, error) {
	b, err := os.ReadFile(filepath.Join(root, currentName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("no guest image under %s; build one first", root)
	}
	if err != nil {
		return nil, fmt.Errorf("reading current image of %s: %w", root, err)
	}
	digest := strings.TrimSpace(string(b))
	if !isDigest(digest) {
		return nil, errdefs.NotFound("%s: %q is not an image digest; build again", filepath.Join(root, currentName), digest)
	}
	return Load(filepath.Join(root, digest))
}

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
