package files

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/volant-sh/volant/internal/tarfs"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

func handleDownloadTar(w http.ResponseWriter, r *http.Request) {
	p, err := pathParam(r.URL.Query())
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	// A symlink named by the caller is followed: they asked for its content.
	root, err := evalSymlinks(p)
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
	// The guest's owners are kept; what vanishes during the walk is left out.
	if err := tarfs.Write(w, root, filepath.Base(p), tarfs.WriteOptions{Owners: true, SkipUnreadable: true}); err != nil {
		// The status is sent; cut the stream so the archive reads as broken
		// rather than complete.
		panic(http.ErrAbortHandler)
	}
}
