package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/volant-sh/volant/image"
	"github.com/volant-sh/volant/image/debian"
	"github.com/volant-sh/volant/image/oci"
)

// imageBuild builds (or finds cached) the default guest image.
func imageBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image build", flag.ContinueOnError)
	load := configFlags(fs)
	kernelDeb := fs.String("kernel-deb", "", "linux-image .deb to use instead of downloading linux-image-cloud-amd64")
	noDebian := fs.Bool("no-debian", false, "skip the built-in debian image (a Debian userland made with mmdebstrap)")
	toolchain := fs.Bool("debian-toolchain", false, "add a C toolchain (build-essential: about 260 MB more) to the debian image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	img, err := image.Build(ctx, image.Options{
		Dir: cfg.Images(), KestrelPath: cfg.KestrelPath,
		KernelDeb: *kernelDeb, Logger: logger(cfg, stderr),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "image %s\n  kernel    %s (%s)\n  initramfs %s\n", img.Digest, img.Kernel, img.KernelRelease, img.Initramfs)
	if *noDebian {
		return nil
	}
	return debianBuild(ctx, cfg.Images(), *toolchain, logger(cfg, stderr), stdout)
}

// debianBuild builds (or finds cached) the built-in debian image and
// registers it in the image store.
func debianBuild(ctx context.Context, dir string, toolchain bool, log *slog.Logger, stdout io.Writer) error {
	if os.Geteuid() != 0 {
		fmt.Fprintln(stdout, "skipping the debian image: mmdebstrap and the conversion need root")
		return nil
	}
	st, err := oci.Open(oci.Config{Dir: dir, Logger: log})
	if err != nil {
		return err
	}
	opts := debian.Options{CacheDir: filepath.Join(dir, "debian"), Logger: log}
	if toolchain {
		opts.Packages = append(append([]string{}, debian.DefaultPackages...), debian.ToolchainPackages...)
	}
	img, err := debian.Build(ctx, st, opts)
	if err != nil {
		return fmt.Errorf("building the debian image: %w", err)
	}
	fmt.Fprintf(stdout, "image %s %s\n  rootfs    %s (%d MiB)\n", debian.Name, img.Digest, st.RootFSPath(img.Digest), img.RootFSSize>>20)
	return nil
}
