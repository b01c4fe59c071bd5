// Package cpio writes and reads "newc" (SVR4, no CRC) cpio archives, the
// format the Linux kernel unpacks as an initramfs.
//
// The writer is deterministic: it numbers inodes in the order entries are
// written and stores whatever modes, owners and times the caller gives it,
// so the same entries always give the same bytes.
package cpio
