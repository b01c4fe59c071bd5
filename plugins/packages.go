package plugins

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/volant-sh/volant/errdefs"
)

// Images with extra packages. A rootfs of kind image may name Debian
// packages to install on top of the built-in image's own. The daemon
// builds that image at install (Config.Builder), once per set of packages:
// the build is cached by its key, so a second install, or a second plugin
// with the same packages, finds it built. The image is registered in the
// image store under a name derived from the key, and the plugin runs it.

// MaxImagePackages bounds the extra packages one manifest may name.
const MaxImagePackages = 64

// debianPackage is Debian's package name syntax (Debian Policy 5.6.1):
// at least two characters of lowercase letters, digits, '+', '-' and
// '.', starting with a letter or digit. No version or architecture.
var debianPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// maxPackageName bounds one package name.
const maxPackageName = 100

// validatePackages checks rootfs.packages.
func validatePackages(p *problems, pkgs []string) {
	const f = "rootfs.packages"
	if len(pkgs) > MaxImagePackages {
		p.add(f, "names %d packages; at most %d (a plugin's image is for its workload's needs: put the rest in a pip or npm step of the workload)", len(pkgs), MaxImagePackages)
		return
	}
	seen := map[string]bool{}
	for i, name := range pkgs {
		field := fmt.Sprintf("%s[%d]", f, i)
		switch {
		case len(name) > maxPackageName:
			p.add(field, "is %d characters; a Debian package name has at most %d", len(name), maxPackageName)
		case !debianPackage.MatchString(name):
			p.add(field, "%q is not a Debian package name; give the name alone (lowercase letters, digits, '+', '-' and '.', such as python3-numpy), without a version or architecture", name)
		case seen[name]:
			p.add(field, "%q is named twice; keep one", name)
		}
		seen[name] = true
	}
}

// ImageBuilder builds images with extra packages; the daemon implements
// it with image/debian and its image store.
type ImageBuilder interface {
	// BuildImage builds (or finds already built) the built-in image base
	// with packages added, registers it in the image store and returns
	// the name it is registered under. progress, when set, receives the
	// builder's output lines. A failed build keeps nothing and says why.
	BuildImage(ctx context.Context, base string, packages []string, progress func(line string)) (name string, err error)
}

// buildImage builds a manifest's image with packages and records its name
// in rf.Image.
func (r *Registry) buildImage(ctx context.Context, plugin string, rf *RootFS) error {
	if len(rf.Packages) == 0 {
		return nil
	}
	if r.cfg.Builder == nil {
		return errdefs.Unavailable("rootfs.packages: this daemon builds no images (it has no image store or no builder); install the plugin on a daemon with images, or drop the packages")
	}
	what := "plugin:" + plugin
	progress := func(line string) {
		r.log.Info("building a plugin's image", "plugin", plugin, "line", line)
		r.publishProgress(ctx, what, "build", line)
	}
	r.publishProgress(ctx, what, "build", fmt.Sprintf("building image %s with %d packages", rf.Name, len(rf.Packages)))
	name, err := r.cfg.Builder.BuildImage(ctx, rf.Name, slices.Clone(rf.Packages), progress)
	if err != nil {
		r.publishProgress(ctx, what, "failed", err.Error())
		return fmt.Errorf("rootfs.packages: building the image: %w", err)
	}
	r.publishProgress(ctx, what, "done", "image "+name)
	rf.Image = name
	return nil
}
