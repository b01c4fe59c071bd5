package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// The kernel meta-package Build follows, and the host tools it uses. The
// tool names are variables so tests can make them unreachable.
var (
	kernelMetaPackage = "linux-image-cloud-amd64"
	aptCacheCmd       = "apt-cache"
	aptGetCmd         = "apt-get"
	dpkgDebCmd        = "dpkg-deb"
)

// resolveKernelDeb returns the path of the kernel package to use: the
// concrete package behind kernelMetaPackage, downloaded into debDir unless
// it is there already; or, when that fails, the newest matching .deb
// already in debDir.
func resolveKernelDeb(ctx context.Context, debDir string, log *slog.Logger) (string, error) {
	if err := os.MkdirAll(debDir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", debDir, err)
	}
	p, err := downloadKernelDeb(ctx, debDir, log)
	if err == nil {
		return p, nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	cached, gerr := newestDeb(debDir)
	if gerr != nil {
		return "", errdefs.Unavailable("getting kernel package %s failed (%v) and %s holds no linux-image-*.deb to reuse; connect to a Debian mirror or pass a .deb as the kernel package", kernelMetaPackage, err, debDir)
	}
	log.Warn("kernel package download failed; reusing a cached one", "error", err, "deb", cached)
	return cached, nil
}

func downloadKernelDeb(ctx context.Context, debDir string, log *slog.Logger) (string, error) {
	out, err := exec.CommandContext(ctx, aptCacheCmd, "show", "--no-all-versions", kernelMetaPackage).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache show %s: %w", kernelMetaPackage, cmdErr(err))
	}
	name, version, err := concretePackage(string(out))
	if err != nil {
		return "", err
	}
	want := filepath.Join(debDir, fmt.Sprintf("%s_%s_amd64.deb", name, strings.ReplaceAll(version, ":", "%3a")))
	if _, err := os.Stat(want); err == nil {
		return want, nil
	}
	log.Info("downloading kernel package", "package", name, "version", version)
	cmd := exec.CommandContext(ctx, aptGetCmd, "download", "-q", name+"="+version)
	cmd.Dir = debDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s=%s: %w: %s", name, version, err, bytes.TrimSpace(out))
	}
	if _, err := os.Stat(want); err != nil {
		return "", fmt.Errorf("apt-get download %s=%s left no %s", name, version, filepath.Base(want))
	}
	return want, nil
}

// concretePackage reads the linux-image-<release> package and its version
// from the Depends field of `apt-cache show` output for the meta-package.
func concretePackage(show string) (name, version string, err error) {
	for line := range strings.Lines(show) {
		deps, ok := strings.CutPrefix(line, "Depends:")
		if !ok {
			continue
		}
		for dep := range strings.SplitSeq(deps, ",") {
			dep = strings.TrimSpace(dep)
			name, rest, _ := strings.Cut(dep, " ")
			if !strings.HasPrefix(name, "linux-image-") {
				continue
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(rest), "(= "); ok {
				return name, strings.TrimSuffix(v, ")"), nil
			}
		}
	}
	return "", "", fmt.Errorf("apt-cache shows no linux-image-* dependency with an exact version for %s", kernelMetaPackage)
}

// newestDeb returns the most recently modified linux-image-*.deb in dir.
func newestDeb(dir string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "linux-image-*.deb"))
	if err != nil || len(matches) == 0 {
		return "", errdefs.NotFound("no linux-image-*.deb in %s", dir)
	}
	sort.Slice(matches, func(i, j int) bool {
		a, _ := os.Stat(matches[i])
		b, _ := os.Stat(matches[j])
		if a == nil || b == nil {
			return matches[i] > matches[j]
		}
		if !a.ModTime().Equal(b.ModTime()) {
			return a.ModTime().After(b.ModTime())
		}
		return matches[i] > matches[j]
	})
	return matches[0], nil
}

// kernelPackage is what Build takes from a linux-image .deb.
type kernelPackage struct {
	Name, Version, Release string
	BzImage                []byte
	// Modules maps a module's name (underscores) to where it was written
	// under the scratch dir and its path below lib/modules/<release>/.
	Modules map[string]*module
	// Builtin holds the names of modules built into the kernel.
	Builtin map[string]bool
}

// readKernelDeb unpacks the kernel, its modules' files (into scratch) and
// module metadata from a linux-image .deb, via dpkg-deb.
func readKernelDeb(ctx context.Context, deb, scratch string) (*kernelPackage, error) {
	out, err := exec.CommandContext(ctx, dpkgDebCmd, "--field", deb, "Package", "Version").Output()
	if err != nil {
		return nil, fmt.Errorf("reading control fields of %s: %w", deb, cmdErr(err))
	}
	kp := &kernelPackage{Modules: map[string]*module{}, Builtin: map[string]bool{}}
	for line := range strings.Lines(string(out)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		switch k {
		case "Package":
			kp.Name = v
		case "Version":
			kp.Version = v
		}
	}
	if !strings.HasPrefix(kp.Name, "linux-image-") {
		return nil, errdefs.Invalid("%s is package %q, not a linux-image-* kernel package", deb, kp.Name)
	}

	cmd := exec.CommandContext(ctx, dpkgDebCmd, "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dpkg-deb: %w", err)
	}
	rerr := kp.readTar(bufio.NewReaderSize(pipe, 1<<20), scratch)
	if rerr != nil {
		io.Copy(io.Discard, pipe)
	}
	werr := cmd.Wait()
	switch {
	case rerr != nil:
		return nil, fmt.Errorf("reading %s: %w", deb, rerr)
	case werr != nil:
		return nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", deb, werr, bytes.TrimSpace(stderr.Bytes()))
	case kp.BzImage == nil:
		return nil, errdefs.Invalid("%s holds no boot/vmlinuz-*", deb)
	case kp.Release == "":
		return nil, errdefs.Invalid("%s holds no lib/modules/<release>/", deb)
	}
	return kp, nil
}

func (kp *kernelPackage) readTar(r io.Reader, scratch string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case strings.HasPrefix(name, "boot/vmlinuz-"):
			if kp.BzImage, err = io.ReadAll(tr); err != nil {
				return err
			}
		case strings.HasPrefix(name, "lib/modules/"):
			rest := strings.TrimPrefix(name, "lib/modules/")
			rel, sub, ok := strings.Cut(rest, "/")
			if !ok {
				continue
			}
			if kp.Release != "" && kp.Release != rel {
				return errdefs.Invalid("modules for two releases, %s and %s", kp.Release, rel)
			}
			kp.Release = rel
			switch {
			case sub == "modules.builtin":
				b, err := io.ReadAll(tr)
				if err != nil {
					return err
				}
				for l := range strings.Lines(string(b)) {
					kp.Builtin[moduleName(strings.TrimSpace(l))] = true
				}
			case strings.HasSuffix(sub, ".ko"):
				b, err := io.ReadAll(tr)
				if err != nil {
					return err
				}
				m, err := parseModule(sub, b)
				if err != nil {
					return err
				}
				m.file = filepath.Join(scratch, m.Name+".ko")
				if err := os.WriteFile(m.file, b, 0o644); err != nil {
					return err
				}
				kp.Modules[m.Name] = m
			}
		}
	}
}

// cmdErr adds a command's stderr to its error.
func cmdErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
