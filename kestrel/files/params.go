package files

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// pathParam returns the cleaned absolute path in ?path=.
func pathParam(q url.Values) (string, error) {
	p := q.Get("path")
	switch {
	case p == "":
		return "", fmt.Errorf("missing path: pass ?path= with an absolute guest path such as /root/file.txt")
	case strings.IndexByte(p, 0) >= 0:
		return "", fmt.Errorf("path %q contains a NUL byte: remove it", p)
	case !filepath.IsAbs(p):
		return "", fmt.Errorf("path %q is relative: pass an absolute guest path starting with /", p)
	}
	return filepath.Clean(p), nil
}

// modeParam parses an octal permission mode such as "0644"; absent gives def.
func modeParam(q url.Values, def fs.FileMode) (fs.FileMode, bool, error) {
	s := q.Get("mode")
	if s == "" {
		return def, false, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, false, fmt.Errorf("mode %q is not an octal permission mode: pass e.g. mode=0644", s)
	}
	return unixToMode(uint32(v)), true, nil
}

// unixToMode converts Unix permission bits (with setuid, setgid, sticky) to
// an fs.FileMode for os.Chmod.
func unixToMode(v uint32) fs.FileMode {
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

// boolParam reads a flag such as recursive=1; absent is false.
func boolParam(q url.Values, name string) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean: pass %s=1 or %s=0", name, s, name, name)
	}
	return v, nil
}

// intParam reads a non-negative integer; absent gives def.
func intParam(q url.Values, name string, def int64) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s=%q is not a non-negative integer", name, s)
	}
	return v, nil
}

// ownerParams reads uid= and gid=; -1 means not given.
func ownerParams(q url.Values) (uid, gid int, err error) {
	uid, gid = -1, -1
	for _, p := range []struct {
		name string
		dst  *int
	}{{"uid", &uid}, {"gid", &gid}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		v, err := strconv.ParseUint(s, 10, 31)
		if err != nil {
			return 0, 0, fmt.Errorf("%s=%q is not a numeric id: pass e.g. %s=1000", p.name, s, p.name)
		}
		*p.dst = int(v)
	}
	return uid, gid, nil
}

// evalSymlinks is filepath.EvalSymlinks whose link-loop error is ELOOP,
// so that it is answered as the caller's mistake like the kernel's own.
func evalSymlinks(p string) (string, error) {
	r, err := filepath.EvalSymlinks(p)
	if err != nil && !errors.Is(err, syscall.ELOOP) && strings.Contains(err.Error(), "too many links") {
		return "", &fs.PathError{Op: "resolve", Path: p, Err: syscall.ELOOP}
	}
	return r, err
}
