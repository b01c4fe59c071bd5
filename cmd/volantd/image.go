package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/volant-sh/volant/image"
)

// imageBuild builds (or finds cached) the default guest image.
func imageBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image build", flag.ContinueOnError)
	load := configFlags(fs)
	kernelDeb := fs.String("kernel-deb", "", "linux-image .deb to use instead of downloading linux-image-cloud-amd64")
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
	return nil
}
