// Package kernel turns a Linux x86 bzImage into the uncompressed vmlinux a
// PVH-booting VMM loads directly, and checks that the result has a PVH entry.
package kernel
