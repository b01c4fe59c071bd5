package files

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/volant-sh/volant/kestrel/internal/reply"
)

func handleDownloadTar(w http.ResponseWriter, r *http.Request) {
	p, err := pathParam(r.URL.Query())
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	// A symlink named by the caller is followed: they asked for its content.
	root, err := filepath.EvalSymlinks(p)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	st, err := os.Lstat(root)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	if !st.IsDir() && !st.Mode().IsRegular() {
		reply.Invalid(w, fmt.Sprintf("%s is not a regular file or directory (%s): nothing to archive", p, st.Mode().Type()))
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	tw := tar.NewWriter(w)
	if st.IsDir() {
		err = writeTree(tw, root)
	} else {
		err = writeEntry(tw, root, filepath.Base(p), st)
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		// The status is sent; cut the stream so the archive reads as broken
		// rather than complete.
		panic(http.ErrAbortHandler)
	}
}

// writeTree writes the entries below dir, named relative to it.
func writeTree(tw *tar.Writer, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			return nil // vanished or unreadable: left out
		}
		if path == dir {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		return writeEntry(tw, path, rel, fi)
	})
}

// writeEntry writes one file, directory or symlink under name; other file
// types (devices, fifos, sockets) are left out.
func writeEntry(tw *tar.Writer, path, name string, fi fs.FileInfo) error {
	var link string
	var f *os.File
	switch m := fi.Mode(); {
	case m.IsDir():
		name += "/"
	case m&fs.ModeSymlink != 0:
		var err error
		if link, err = os.Readlink(path); err != nil {
			return nil
		}
	case m.IsRegular():
		var err error
		if f, err = os.Open(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
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
