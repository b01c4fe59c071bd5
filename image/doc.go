// Package image builds Volant's default guest image from Debian packages:
// an uncompressed PVH vmlinux (and the bzImage it came from) and an
// initramfs whose /init is kestrel, with busybox, the virtio/vsock/overlay
// kernel modules kestrel loads, and a minimal /etc.
//
// Images are content-addressed: Build hashes its inputs (the kernel .deb,
// busybox, kestrel and the builder version) into a digest and writes the
// image to <Dir>/<digest>/ atomically, so the same inputs give the same
// directory and the same bytes, and a second Build returns the cached image.
//
// An image directory holds:
//
//	vmlinux            uncompressed kernel with a PVH entry note
//	bzImage            the kernel as Debian ships it
//	initramfs.cpio     newc cpio (initramfs.cpio.gz when gzip is chosen)
//	manifest.json      inputs, modules and the sha256 and size of each file
package image
