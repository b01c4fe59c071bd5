package files

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"

	"github.com/volant-sh/volant/kestrel/internal/reply"
)

func handleMkdir(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := pathParam(q)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	mode, _, err := modeParam(q, 0o755)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	uid, gid, err := ownerParams(q)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	if fi, err := os.Stat(p); err == nil {
		if !fi.IsDir() {
			reply.Error(w, http.StatusConflict, reply.CodeExists,
				fmt.Sprintf("%s exists and is not a directory: remove it first or pick another path", p))
			return
		}
	} else {
		if err := os.MkdirAll(p, 0o755); err != nil {
			if errors.Is(err, syscall.ENOTDIR) {
				reply.Error(w, http.StatusConflict, reply.CodeConflict,
					fmt.Sprintf("cannot create %s: a parent is a file, not a directory", p))
				return
			}
			reply.FromErr(w, err)
			return
		}
		// MkdirAll is subject to the umask; the leaf gets the mode asked for.
		if err := os.Chmod(p, mode); err != nil {
			reply.FromErr(w, err)
			return
		}
	}
	if uid >= 0 || gid >= 0 {
		if err := os.Chown(p, uid, gid); err != nil {
			reply.FromErr(w, err)
			return
		}
	}
	fi, err := lstatInfo(p)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	reply.JSON(w, http.StatusOK, fi)
}

func handleRemove(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := pathParam(q)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	recursive, err := boolParam(q, "recursive")
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	if p == "/" {
		reply.Invalid(w, `refusing to delete "/": name a path below it`)
		return
	}
	if _, err := os.Lstat(p); err != nil {
		reply.FromErr(w, err)
		return
	}
	if recursive {
		err = os.RemoveAll(p)
	} else {
		err = os.Remove(p)
	}
	if err != nil {
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			reply.Error(w, http.StatusConflict, reply.CodeConflict,
				fmt.Sprintf("directory %s is not empty: pass recursive=1 to delete it and everything in it", p))
			return
		}
		reply.FromErr(w, err)
		return
	}
	syncDir(filepath.Dir(p))
	w.WriteHeader(http.StatusNoContent)
}
