package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"syscall"

	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// writeOpts are the parameters of a file write.
type writeOpts struct {
	mode     fs.FileMode
	modeSet  bool
	mkdir    bool
	uid, gid int // -1: keep or default
}

func handleWrite(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := pathParam(q)
	var o writeOpts
	if err == nil {
		o.mode, o.modeSet, err = modeParam(q, 0o644)
	}
	if err == nil {
		o.mkdir, err = boolParam(q, "mkdir")
	}
	if err == nil {
		o.uid, o.gid, err = ownerParams(q)
	}
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	target, err := writeAtomic(p, r.Body, o)
	if err != nil {
		if errors.As(err, new(*clientError)) {
			reply.Invalid(w, err.Error())
			return
		}
		reply.FromErr(w, err)
		return
	}
	fi, err := lstatInfo(target)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	reply.JSON(w, http.StatusOK, fi)
}

// clientError is an error the caller can fix; it is answered with a 400.
type clientError struct{ msg string }

func (e *clientError) Error() string { return e.msg }

// writeAtomic writes src to path through a temporary file in the same
// directory, synced and renamed over path, so that readers see the old or
// the new content and a failed write leaves nothing behind. A symlink at
// path is written through. It returns the path written.
func writeAtomic(path string, src io.Reader, o writeOpts) (string, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			path = resolved
		}
	}
	dir := filepath.Dir(path)
	if o.mkdir {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
	}
	mode, uid, gid := o.mode, o.uid, o.gid
	if old, err := os.Stat(path); err == nil {
		if old.IsDir() {
			return "", &clientError{fmt.Sprintf("%s is a directory: write to a file path inside it", path)}
		}
		if !o.modeSet {
			mode = old.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		if st, ok := old.Sys().(*syscall.Stat_t); ok {
			if uid < 0 {
				uid = int(st.Uid)
			}
			if gid < 0 {
				gid = int(st.Gid)
			}
		}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".volant-tmp-*")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", &clientError{fmt.Sprintf("directory %s does not exist: create it first or pass mkdir=1", dir)}
		}
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.CopyBuffer(tmp, src, make([]byte, 1<<20)); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return "", err
	}
	if uid >= 0 || gid >= 0 {
		if err := tmp.Chown(uid, gid); err != nil {
			return "", err
		}
		// chown clears setuid and setgid; apply the mode again.
		if err := tmp.Chmod(mode); err != nil {
			return "", err
		}
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	ok = true
	syncDir(dir)
	return path, nil
}

// syncDir makes a rename in dir durable; errors are ignored because the
// data is already written and some file systems refuse to sync directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
