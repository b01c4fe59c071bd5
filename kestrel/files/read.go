package files

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/kestrel/internal/reply"
)

func handleRead(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := pathParam(q)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	offset, err := intParam(q, "offset", 0)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	length, err := intParam(q, "length", -1)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	f, err := os.Open(p)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	switch {
	case st.IsDir():
		reply.Invalid(w, fmt.Sprintf("%s is a directory: use /v1/files/list or /v1/files/tar", p))
		return
	case !st.Mode().IsRegular():
		reply.Invalid(w, fmt.Sprintf("%s is not a regular file (%s): only regular files can be read", p, st.Mode().Type()))
		return
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			reply.FromErr(w, err)
			return
		}
	}
	// Files of /proc and /sys report a size (0, or 4096 in sysfs) that is
	// not their content's: stream those to EOF without a Content-Length.
	var src io.Reader = f
	size := st.Size()
	if pseudoFS(f) {
		size = 0
	}
	if size > 0 {
		if offset > size {
			reply.Error(w, http.StatusRequestedRangeNotSatisfiable, reply.CodeInvalid,
				fmt.Sprintf("offset %d is beyond the end of %s (%d bytes): pass an offset up to the size", offset, p, size))
			return
		}
		n := size - offset
		if length >= 0 {
			n = min(n, length)
		}
		src = io.LimitReader(f, n)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	} else if length >= 0 {
		src = io.LimitReader(f, length)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-File-Size", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, src); err != nil {
		// The status is sent; a short body must not look complete.
		panic(http.ErrAbortHandler)
	}
}

// pseudoFS reports whether f lives on a file system whose sizes say
// nothing of the content (procfs, sysfs and their kin).
func pseudoFS(f *os.File) bool {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil {
		return false
	}
	switch fs.Type {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.DEBUGFS_MAGIC, unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC,
		unix.SECURITYFS_MAGIC, unix.TRACEFS_MAGIC, unix.BPF_FS_MAGIC:
		return true
	}
	return false
}
