// Package reply writes the agent's JSON answers and errors in the one shape
// kestrel/client decodes: {"error": "...", "code": "..."}.
package reply

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"syscall"
)

// The error codes the agent answers with; the client maps them to errdefs classes.
const (
	CodeInvalid     = "invalid"
	CodeNotFound    = "not_found"
	CodeExists      = "exists"
	CodeConflict    = "conflict"
	CodeTooLarge    = "too_large"
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal"
)

// JSON writes v with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error writes an error answer with an explicit status and code.
func Error(w http.ResponseWriter, status int, code, msg string) {
	JSON(w, status, map[string]string{"error": msg, "code": code})
}

// Invalid writes a 400 with a message that says what to fix.
func Invalid(w http.ResponseWriter, msg string) {
	Error(w, http.StatusBadRequest, CodeInvalid, msg)
}

// FromErr classifies an OS error (not found, exists, permission, ...) and
// writes it. Errors the caller can fix (a name too long, a symlink loop, a
// file where a directory is needed) are 4xx with a hint of what to change;
// only errors of the agent itself are 500.
func FromErr(w http.ResponseWriter, err error) {
	status, code, hint := classify(err)
	msg := err.Error()
	if hint != "" {
		msg += ": " + hint
	}
	Error(w, status, code, msg)
}

// classify is the status, code and hint of an OS error.
func classify(err error) (status int, code, hint string) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound, CodeNotFound, ""
	case errors.Is(err, fs.ErrExist):
		return http.StatusConflict, CodeExists, ""
	case errors.Is(err, fs.ErrPermission):
		return http.StatusForbidden, CodeInvalid, ""
	case errors.Is(err, syscall.ENAMETOOLONG):
		return http.StatusBadRequest, CodeInvalid, "each name in a path is at most 255 bytes, and a path at most 4095; use shorter names"
	case errors.Is(err, syscall.ELOOP):
		return http.StatusBadRequest, CodeInvalid, "the path goes through a symbolic link loop (or too many links); fix the links or give the real path"
	case errors.Is(err, syscall.ENOTDIR):
		return http.StatusBadRequest, CodeInvalid, "a part of the path is a file, not a directory"
	case errors.Is(err, syscall.EISDIR):
		return http.StatusBadRequest, CodeInvalid, "the path is a directory; use the directory routes"
	case errors.Is(err, syscall.ENOTEMPTY):
		return http.StatusBadRequest, CodeInvalid, "the directory is not empty; remove it recursively"
	case errors.Is(err, syscall.EINVAL), errors.Is(err, os.ErrInvalid), errors.Is(err, syscall.EXDEV):
		return http.StatusBadRequest, CodeInvalid, ""
	case errors.Is(err, syscall.EROFS):
		return http.StatusConflict, CodeConflict, "that file system is read-only in the guest; write under /root, /tmp or /data"
	case errors.Is(err, syscall.EBUSY), errors.Is(err, syscall.ETXTBSY):
		return http.StatusConflict, CodeConflict, "the file is in use in the guest; retry once it is not"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return http.StatusInsufficientStorage, CodeTooLarge, "the guest's file system is full; free space in the sandbox or give it a larger disk"
	}
	return http.StatusInternalServerError, CodeInternal, ""
}
