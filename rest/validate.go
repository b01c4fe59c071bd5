package rest

import (
	"strconv"

	"github.com/volant-sh/volant/errdefs"
)

// parseInt parses an optional integer query parameter within [lo, hi].
func parseInt(name, v string, lo, hi int64) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, errdefs.Invalid("%s %q: must be an integer between %d and %d", name, truncate(v, 40), lo, hi)
	}
	return n, nil
}

// parseBool parses an optional boolean query parameter.
func parseBool(name, v string) (bool, error) {
	switch v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, errdefs.Invalid("%s %q: use true or false", name, truncate(v, 40))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
