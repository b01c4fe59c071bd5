package files

import (
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// defaultListLimit caps a listing when the caller gives no limit.
const defaultListLimit = 10000

// info describes the file at path from its Lstat result.
func info(path string, fi fs.FileInfo) client.FileInfo {
	out := client.FileInfo{
		Name:      fi.Name(),
		Path:      path,
		Size:      fi.Size(),
		IsDir:     fi.IsDir(),
		IsSymlink: fi.Mode()&fs.ModeSymlink != 0,
		ModTime:   fi.ModTime().UTC(),
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.ModeBits = st.Mode
		out.UID = int(st.Uid)
		out.GID = int(st.Gid)
	}
	out.Mode = fmt.Sprintf("%04o", out.ModeBits&0o7777)
	if out.IsSymlink {
		out.LinkTarget, _ = os.Readlink(path)
	}
	return out
}

// lstatInfo is info of os.Lstat(path).
func lstatInfo(path string) (client.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return client.FileInfo{}, err
	}
	return info(path, fi), nil
}

func handleStat(w http.ResponseWriter, r *http.Request) {
	p, err := pathParam(r.URL.Query())
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	fi, err := lstatInfo(p)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	reply.JSON(w, http.StatusOK, fi)
}

func handleList(w http.ResponseWriter, r *http.Request) {
	p, recursive, limit, err := listParams(r.URL.Query())
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	list(w, p, recursive, limit)
}

func listParams(q url.Values) (p string, recursive bool, limit int, err error) {
	if p, err = pathParam(q); err != nil {
		return "", false, 0, err
	}
	if recursive, err = boolParam(q, "recursive"); err != nil {
		return "", false, 0, err
	}
	n, err := intParam(q, "limit", defaultListLimit)
	if err != nil {
		return "", false, 0, err
	}
	if n == 0 {
		n = defaultListLimit
	}
	return p, recursive, int(min(n, 1<<30)), nil
}

func list(w http.ResponseWriter, p string, recursive bool, limit int) {
	st, err := os.Stat(p)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	if !st.IsDir() {
		reply.Invalid(w, fmt.Sprintf("%s is not a directory: use /v1/files/stat for a single file", p))
		return
	}
	out := client.FileList{Path: p, Entries: []client.FileInfo{}}
	if !recursive {
		names, err := readDirNames(p)
		if err != nil {
			reply.FromErr(w, err)
			return
		}
		for _, name := range names {
			if len(out.Entries) == limit {
				out.Truncated = true
				break
			}
			fi, err := lstatInfo(filepath.Join(p, name))
			if err != nil {
				continue // removed since ReadDir
			}
			out.Entries = append(out.Entries, fi)
		}
		reply.JSON(w, http.StatusOK, out)
		return
	}
	// WalkDir does not follow symlinks, so the root must not be one either:
	// walk the resolved directory and report paths under the name given.
	root, err := evalSymlinks(p)
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil // unreadable or vanished entries are left out
		}
		if path == root {
			return nil
		}
		if len(out.Entries) == limit {
			out.Truncated = true
			return fs.SkipAll
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		shown := filepath.Join(p, strings.TrimPrefix(path, root))
		out.Entries = append(out.Entries, info(shown, fi))
		return nil
	})
	if err != nil {
		reply.FromErr(w, err)
		return
	}
	reply.JSON(w, http.StatusOK, out)
}

// readDirNames returns the names in dir, sorted.
func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}
