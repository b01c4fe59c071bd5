package files

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

func handleUploadTar(w http.ResponseWriter, r *http.Request) {
	dir, err := pathParam(r.URL.Query())
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		reply.FromErr(w, err)
		return
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	defer root.Close()
	res, err := extract(root, dir, r.Body)
	if err != nil {
		if errors.As(err, new(*clientError)) {
			reply.Invalid(w, err.Error())
			return
		}
		reply.FromErr(w, err)
		return
	}
	syncDir(dir)
	reply.JSON(w, http.StatusOK, res)
}

// dirTime is a directory's modification time, applied after its content
// is written (which changes it).
type dirTime struct {
	name  string
	mtime time.Time
}

// extract writes the tar stream src below root. Every operation goes
// through root, so no entry can reach outside dir, whether by "..", an
// absolute name or a symlink written earlier in the stream.
func extract(root *os.Root, dir string, src io.Reader) (client.TarResult, error) {
	var res client.TarResult
	var dirs []dirTime
	tr := tar.NewReader(src)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, &clientError{fmt.Sprintf("reading the tar stream: %v: send a valid tar archive", err)}
		}
		name, err := entryName(hdr.Name, dir)
		if err != nil {
			return res, err
		}
		if err := extractEntry(root, dir, tr, hdr, name, &res); err != nil {
			if isEscape(err) {
				return res, escapeError(hdr.Name, dir)
			}
			return res, fmt.Errorf("extracting %q into %s: %w", hdr.Name, dir, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTime{name, hdr.ModTime})
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = root.Chtimes(dirs[i].name, dirs[i].mtime, dirs[i].mtime)
	}
	return res, nil
}

// extractEntry writes one entry; devices, fifos and other types are skipped.
func extractEntry(root *os.Root, dir string, tr *tar.Reader, hdr *tar.Header, name string, res *client.TarResult) error {
	mode := unixToMode(uint32(hdr.Mode) & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if err := root.Chmod(name, mode); err != nil {
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
		if err == nil {
			err = f.Chown(hdr.Uid, hdr.Gid)
		}
		if err == nil {
			err = f.Chmod(mode)
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
		if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
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
		return &clientError{fmt.Sprintf("tar entry %q would replace a directory: remove the directory first", name)}
	}
	return root.Remove(name)
}

// entryName cleans a tar entry name into a path relative to the target
// directory, refusing names that leave it.
func entryName(name, dir string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", &clientError{fmt.Sprintf("tar entry %q contains a NUL byte", name)}
	}
	c := path.Clean(name)
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", escapeError(name, dir)
	}
	return c, nil
}

func escapeError(name, dir string) error {
	return &clientError{fmt.Sprintf("tar entry %q escapes %s (an absolute name, \"..\" or a symlink leading outside): refused; nothing was written outside %s; fix the archive to use relative names inside it", name, dir, dir)}
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
