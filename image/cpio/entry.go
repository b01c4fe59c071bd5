package cpio

import "io/fs"

// Mode type bits of the newc format (the same values as Linux's S_IF*).
const (
	TypeDir     = 0o040000
	TypeRegular = 0o100000
	TypeSymlink = 0o120000
	TypeChar    = 0o020000
	TypeBlock   = 0o060000
	TypeFIFO    = 0o010000
	typeMask    = 0o170000
)

// Entry is one member of an archive.
type Entry struct {
	// Name is the path inside the archive, without a leading slash.
	Name string
	// Mode holds the type bits (TypeDir, TypeRegular, ...) and the
	// permission bits, including setuid, setgid and sticky.
	Mode uint32
	// UID and GID own the entry.
	UID, GID uint32
	// MTime is the modification time in seconds since the epoch.
	MTime uint32
	// RDevMajor and RDevMinor name the device of a character or block node.
	RDevMajor, RDevMinor uint32
	// Data is a regular file's content or a symlink's target.
	Data []byte
}

// Type returns the entry's type bits.
func (e *Entry) Type() uint32 { return e.Mode & typeMask }

// FileMode returns the entry's mode as an fs.FileMode, for display and tests.
func (e *Entry) FileMode() fs.FileMode {
	m := fs.FileMode(e.Mode & 0o777)
	if e.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if e.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if e.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch e.Type() {
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case TypeBlock:
		m |= fs.ModeDevice
	case TypeFIFO:
		m |= fs.ModeNamedPipe
	}
	return m
}
