// Package tarfs writes a file tree as a tar stream and extracts one into a
// directory, with one set of rules for the host (volar) and the guest
// (kestrel): regular files, directories, symlinks and hard links; devices,
// fifos and sockets are left out; extraction goes through an os.Root, so
// no entry reaches outside its directory. It uses only the standard
// library, so kestrel stays a static binary.
package tarfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteOptions says how Write archives.
type WriteOptions struct {
	// Owners keeps each entry's uid, gid and owner names; without it every
	// entry is owned by root (0:0) with no names, as for files sent from
	// a host user's tree into a guest.
	Owners bool
	// SkipUnreadable leaves out entries that vanish or cannot be read
	// while the tree is walked, instead of failing.
	SkipUnreadable bool
}

// Write archives path into w: a directory as the entries below it, named
// relative to it; a regular file (or a symlink to one, followed) as one
// entry called name. It closes the archive. Other file types are refused.
func Write(w io.Writer, path, name string, opts WriteOptions) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	switch {
	case st.IsDir():
		err = writeTree(tw, path, opts)
	case st.Mode().IsRegular():
		err = writeEntry(tw, path, name, st, opts)
	default:
		return fmt.Errorf("%s is not a regular file or directory (%s): nothing to archive", path, st.Mode().Type())
	}
	if err != nil {
		return err
	}
	return tw.Close()
}

// writeTree writes the entries below dir, named relative to it.
func writeTree(tw *tar.Writer, dir string, opts WriteOptions) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir || !opts.SkipUnreadable {
				return err
			}
			return nil // vanished or unreadable: left out
		}
		if path == dir {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if opts.SkipUnreadable {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		return writeEntry(tw, path, rel, fi, opts)
	})
}

// writeEntry writes one file, directory or symlink under name; other file
// types are left out.
func writeEntry(tw *tar.Writer, path, name string, fi fs.FileInfo, opts WriteOptions) error {
	var link string
	var f *os.File
	switch m := fi.Mode(); {
	case m.IsDir():
		name += "/"
	case m&fs.ModeSymlink != 0:
		var err error
		if link, err = os.Readlink(path); err != nil {
			return skip(err, opts)
		}
	case m.IsRegular():
		var err error
		if f, err = os.Open(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return skip(err, opts)
			}
			return err
		}
		defer f.Close()
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = filepath.ToSlash(name)
	if !opts.Owners {
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if f != nil {
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			return fmt.Errorf("archiving %s: %w", path, err)
		}
	}
	return nil
}

func skip(err error, opts WriteOptions) error {
	if opts.SkipUnreadable {
		return nil
	}
	return err
}
