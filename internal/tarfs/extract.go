package tarfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// ExtractOptions says how Extract writes.
type ExtractOptions struct {
	// Owners applies each entry's uid and gid (as root in the guest);
	// without it the files belong to whoever extracts.
	Owners bool
}

// Result counts what Extract wrote.
type Result struct {
	Files int   `json:"files"`
	Dirs  int   `json:"dirs"`
	Bytes int64 `json:"bytes"`
}

// ArchiveError is an archive Extract refuses: not a tar stream, or an
// entry that would leave the directory, replace a directory or is not a
// valid name. Its message says what to fix. Nothing was written outside
// the directory.
type ArchiveError struct{ msg string }

func (e *ArchiveError) Error() string { return e.msg }

// Extract writes the tar stream src below root, the directory dir (named
// in messages). Every operation goes through root, so no entry can reach
// outside dir, whether by "..", an absolute name or a symlink written
// earlier in the stream; an old file or symlink at an entry's name is
// replaced, never written through. Directory modes and times are applied
// last, once their content is in.
func Extract(root *os.Root, dir string, src io.Reader, opts ExtractOptions) (Result, error) {
	var res Result
	var dirs []*tar.Header
	tr := tar.NewReader(src)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, &ArchiveError{fmt.Sprintf("reading the tar stream: %v: send a valid tar archive", err)}
		}
		name, err := entryName(hdr.Name, dir)
		if err != nil {
			return res, err
		}
		if err := extractEntry(root, dir, tr, hdr, name, opts, &res); err != nil {
			if isEscape(err) {
				return res, escapeError(hdr.Name, dir)
			}
			var ae *ArchiveError
			if errors.As(err, &ae) {
				return res, err
			}
			return res, fmt.Errorf("extracting %q into %s: %w", hdr.Name, dir, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			h := *hdr
			h.Name = name
			dirs = append(dirs, &h)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := root.Chmod(d.Name, fileMode(d.Mode)); err != nil {
			return res, fmt.Errorf("extracting %q into %s: %w", d.Name, dir, err)
		}
		_ = root.Chtimes(d.Name, d.ModTime, d.ModTime)
	}
	return res, nil
}

// extractEntry writes one entry; devices, fifos and other types are skipped.
func extractEntry(root *os.Root, dir string, tr *tar.Reader, hdr *tar.Header, name string, opts ExtractOptions, res *Result) error {
	chown := func(name string) error {
		if !opts.Owners {
			return nil
		}
		return root.Lchown(name, hdr.Uid, hdr.Gid)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		// Writable by its owner until its content is in; its mode comes last.
		if err := root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		if err := root.Chmod(name, 0o700); err != nil {
			return err
		}
		if err := chown(name); err != nil {
			return err
		}
		res.Dirs++
	case tar.TypeReg:
		if err := replaceable(root, name); err != nil {
			return err
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(f, tr, make([]byte, 256<<10))
		if err == nil && opts.Owners {
			err = f.Chown(hdr.Uid, hdr.Gid)
		}
		if err == nil {
			err = f.Chmod(fileMode(hdr.Mode))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		_ = root.Chtimes(name, hdr.ModTime, hdr.ModTime)
		res.Files++
		res.Bytes += n
	case tar.TypeSymlink:
		if err := replaceable(root, name); err != nil {
			return err
		}
		if err := root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
		if err := chown(name); err != nil {
			return err
		}
		res.Files++
	case tar.TypeLink:
		old, err := entryName(hdr.Linkname, dir)
		if err != nil {
			return err
		}
		if err := replaceable(root, name); err != nil {
			return err
		}
		if err := root.Link(old, name); err != nil {
			return err
		}
		res.Files++
	}
	return nil
}

// fileMode converts a tar header's Unix permission bits (with setuid,
// setgid and sticky) to an fs.FileMode for os.Chmod.
func fileMode(v int64) fs.FileMode {
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// replaceable makes room for a new non-directory entry at name: parents
// exist, and an old file or symlink there is removed (never followed).
func replaceable(root *os.Root, name string) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return &ArchiveError{fmt.Sprintf("tar entry %q would replace a directory: remove the directory first", name)}
	}
	return root.Remove(name)
}

// entryName cleans a tar entry name into a path relative to the target
// directory, refusing names that leave it.
func entryName(name, dir string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", &ArchiveError{fmt.Sprintf("tar entry %q contains a NUL byte", name)}
	}
	c := path.Clean(name)
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", escapeError(name, dir)
	}
	return c, nil
}

func escapeError(name, dir string) error {
	return &ArchiveError{fmt.Sprintf("tar entry %q escapes %s (an absolute name, \"..\" or a symlink leading outside): refused; nothing was written outside %s; fix the archive to use relative names inside it", name, dir, dir)}
}

// isEscape reports whether err is os.Root refusing a path that leaves it.
func isEscape(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return strings.Contains(pe.Err.Error(), "escapes")
	}
	var le *os.LinkError
	return errors.As(err, &le) && strings.Contains(le.Err.Error(), "escapes")
}
