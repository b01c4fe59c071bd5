package sandbox

import (
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// The bounds every surface shares: ids and names, guest paths, durations.
const (
	// MaxIDLen bounds sandbox, snapshot and process ids and sandbox names.
	MaxIDLen = 128
	// MaxPathLen bounds guest paths (Linux's PATH_MAX).
	MaxPathLen = 4096
	// MaxDurationSeconds bounds every duration given in seconds (TTLs,
	// idle timeouts, exec timeouts): ten years, far below where a
	// time.Duration overflows.
	MaxDurationSeconds = 10 * 365 * 24 * 3600
)

// IDPattern is what sandbox and snapshot ids (and sandbox names, when used
// in their place) look like: letters, digits, '.', '_' and '-'.
const IDPattern = `^[A-Za-z0-9][A-Za-z0-9._-]*$`

var idRE = regexp.MustCompile(IDPattern)

// ValidateID checks a sandbox or snapshot id (or a sandbox name) a caller
// gave for what (e.g. "sandbox id"), without echoing a long one back.
func ValidateID(what, ref string) error { return validateRef(what, ref) }

func validateRef(what, ref string) error {
	switch {
	case ref == "":
		return errdefs.Invalid("%s is missing: give the id or name", what)
	case len(ref) > MaxIDLen:
		return errdefs.Invalid("%s: %d bytes is longer than %d; ids and names are short", what, len(ref), MaxIDLen)
	case !idRE.MatchString(ref):
		return errdefs.Invalid("%s %q: ids and names are 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", what, clip(ref), MaxIDLen)
	}
	return nil
}

// validatePath checks a guest path: absolute, NUL-free, bounded.
func validatePath(p string) error {
	switch {
	case p == "":
		return errdefs.Invalid("path is missing: give an absolute path such as /root/file.txt")
	case len(p) > MaxPathLen:
		return errdefs.Invalid("path: %d bytes is longer than %d", len(p), MaxPathLen)
	case strings.ContainsRune(p, 0):
		return errdefs.Invalid("path contains a NUL byte")
	case !strings.HasPrefix(p, "/"):
		return errdefs.Invalid("path %q: must be absolute (start with /), such as /root/file.txt", clip(p))
	}
	for name := range strings.SplitSeq(p, "/") {
		if len(name) > MaxNameLen {
			return errdefs.Invalid("path %q: the name %q is %d bytes; each name in a path is at most %d bytes", clip(p), clip(name), len(name), MaxNameLen)
		}
	}
	return nil
}

// MaxNameLen bounds each name of a guest path, as Linux file systems do.
const MaxNameLen = 255

// validateSeconds checks a duration in seconds: 0 (whatever zero means for
// it) up to MaxDurationSeconds.
func validateSeconds(name string, n int64, zero string) error {
	if n < 0 || n > MaxDurationSeconds {
		return errdefs.Invalid("%s %d: must be between 0 (%s) and %d seconds", name, n, zero, MaxDurationSeconds)
	}
	return nil
}

// seconds is n seconds as a Duration; n is bounded by validateSeconds.
func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// Seconds converts a request's duration in seconds without overflowing:
// a value out of [0, MaxDurationSeconds] becomes -1s, which every
// Validate refuses.
func Seconds(n int) time.Duration {
	if n < 0 || n > MaxDurationSeconds {
		return -time.Second
	}
	return seconds(n)
}

// Mode is a file mode as callers write it: octal permission bits such as
// "0644" or "4755". The empty string means "unset" (the operation's
// default); "0000" is mode 0.
type Mode string

// Parse returns the mode, and whether one was given.
func (m Mode) Parse() (fs.FileMode, bool, error) {
	if m == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(string(m), 8, 32)
	if err != nil || n > 0o7777 || len(m) > 5 {
		return 0, false, errdefs.Invalid("mode %q: use octal permission bits such as 0644 or 0755", clip(string(m)))
	}
	mode := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode, true, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const n = 80
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
