package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/kernel"
)

// Build returns the guest image for opts' inputs, building it into
// <opts.Dir>/<digest>/ unless an intact image with that digest is already
// there. It also marks the image as the current one (see Current).
func Build(ctx context.Context, opts Options) (*Image, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	log := opts.Logger
	for what, p := range map[string]string{"kestrel": opts.KestrelPath, "busybox": opts.BusyboxPath} {
		if err := checkStatic(what, p); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating image dir: %w", err)
	}
	deb := opts.KernelDeb
	if deb == "" {
		var err error
		if deb, err = resolveKernelDeb(ctx, filepath.Join(opts.Dir, "debs"), log); err != nil {
			return nil, err
		}
	}

	var in inputs
	for _, h := range []struct {
		p   string
		sum *string
	}{{deb, &in.deb}, {opts.BusyboxPath, &in.busybox}, {opts.KestrelPath, &in.kestrel}} {
		sum, _, err := hashFile(h.p)
		if err != nil {
			return nil, err
		}
		*h.sum = sum
	}
	in.compression = opts.Compression
	digest := in.digest()
	dir := filepath.Join(opts.Dir, digest)

	if img, err := Load(dir); err == nil {
		log.Debug("guest image cached", "digest", digest)
		return img, setCurrent(opts.Dir, digest)
	}

	removeStaleBuilds(opts.Dir, log)
	start := time.Now()
	log.Info("building guest image", "digest", digest, "kernel", deb)
	tmp, err := os.MkdirTemp(opts.Dir, ".build-"+digest[:12]+"-")
	if err != nil {
		return nil, fmt.Errorf("creating build dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := build(ctx, opts, deb, in, digest, tmp); err != nil {
		return nil, fmt.Errorf("building guest image from %s: %w", filepath.Base(deb), err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another Build of the same inputs may have won the race.
		if img, lerr := Load(dir); lerr == nil {
			return img, setCurrent(opts.Dir, digest)
		}
		return nil, fmt.Errorf("moving image into place: %w", err)
	}
	img, err := Load(dir)
	if err != nil {
		return nil, err
	}
	log.Info("built guest image", "digest", digest, "release", img.KernelRelease,
		"modules", len(img.Manifest.Modules), "took", time.Since(start).Round(time.Millisecond))
	return img, setCurrent(opts.Dir, digest)
}

// inputs are the hashes an image digest covers.
type inputs struct {
	deb, busybox, kestrel string
	compression           Compression
}

func (in inputs) digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "volant-image builder=%s\nkernel-deb=%s\nbusybox=%s\nkestrel=%s\ncompression=%s\n",
		BuilderVersion, in.deb, in.busybox, in.kestrel, in.compression)
	return hex.EncodeToString(h.Sum(nil))
}

// build writes the image files and manifest into tmp.
func build(ctx context.Context, opts Options, deb string, in inputs, digest, tmp string) error {
	scratch := filepath.Join(tmp, ".modules")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		return err
	}
	kp, err := readKernelDeb(ctx, deb, scratch)
	if err != nil {
		return err
	}
	vmlinux, err := kernel.Extract(kp.BzImage)
	if err != nil {
		return err
	}
	order, err := loadOrder(kp.Modules, kp.Builtin, WantedModules)
	if err != nil {
		return err
	}
	bbVersion, err := busyboxVersion(ctx, opts.BusyboxPath)
	if err != nil {
		return err
	}
	applets, err := busyboxApplets(ctx, opts.BusyboxPath)
	if err != nil {
		return err
	}
	c := initramfsContent{
		Applets:    applets,
		Release:    kp.Release,
		ModulesDep: modulesDep(order, kp.Modules),
		OSVersion:  fmt.Sprintf("%s, kernel %s", BuilderVersion, kp.Release),
	}
	if c.Kestrel, err = os.ReadFile(opts.KestrelPath); err != nil {
		return err
	}
	if c.Busybox, err = os.ReadFile(opts.BusyboxPath); err != nil {
		return err
	}
	m := Manifest{
		BuilderVersion: BuilderVersion,
		Digest:         digest,
		Kernel:         KernelInfo{Package: kp.Name, Version: kp.Version, SHA256: in.deb, Release: kp.Release},
		Busybox:        BusyboxInfo{SHA256: in.busybox, Version: bbVersion},
		Kestrel:        KestrelInfo{SHA256: in.kestrel},
		Compression:    opts.Compression,
	}
	for _, mod := range order {
		data, err := os.ReadFile(mod.file)
		if err != nil {
			return err
		}
		c.Modules = append(c.Modules, moduleFile{Path: mod.Path, Data: data})
		m.Modules = append(m.Modules, fmt.Sprintf("/lib/modules/%s/%s", kp.Release, mod.Path))
	}
	if err := os.RemoveAll(scratch); err != nil {
		return err
	}

	initrd := initramfsBase
	if opts.Compression == CompressGzip {
		initrd += ".gz"
	}
	if err := writeFileSync(filepath.Join(tmp, initrd), func(w io.Writer) error {
		return writeInitramfs(w, initramfsEntries(c), opts.Compression)
	}); err != nil {
		return fmt.Errorf("writing initramfs: %w", err)
	}
	for name, data := range map[string][]byte{VmlinuxName: vmlinux, BzImageName: kp.BzImage} {
		if err := writeFileSync(filepath.Join(tmp, name), func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return err
		}
	}
	for _, name := range []string{BzImageName, initrd, VmlinuxName} {
		sum, size, err := hashFile(filepath.Join(tmp, name))
		if err != nil {
			return err
		}
		m.Files = append(m.Files, FileInfo{Name: name, SHA256: sum, Size: size})
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(tmp, ManifestName), func(w io.Writer) error {
		_, err := w.Write(append(mb, '\n'))
		return err
	})
}

// staleBuildAge is how old a leftover build directory (from a crashed
// Build) must be before another Build removes it.
const staleBuildAge = time.Hour

func removeStaleBuilds(root string, log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(root, ".build-*"))
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && time.Since(st.ModTime()) > staleBuildAge {
			log.Info("removing leftover image build", "dir", d)
			os.RemoveAll(d)
		}
	}
}

// setCurrent records digest as the current image under root, atomically.
func setCurrent(root, digest string) error {
	p := filepath.Join(root, currentName)
	if b, err := os.ReadFile(p); err == nil && string(b) == digest+"\n" {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", p, os.Getpid())
	if err := writeFileSync(tmp, func(w io.Writer) error {
		_, err := io.WriteString(w, digest+"\n")
		return err
	}); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("marking current image: %w", err)
	}
	return nil
}

// writeFileSync creates p (mode 0644), fills it with fill and syncs it.
func writeFileSync(p string, fill func(io.Writer) error) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hashFile returns the hex sha256 and size of the file at p.
func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, errdefs.NotFound("%s does not exist", p)
	}
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
