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

// FromErr classifies an OS error (not found, exists, permission, ...) and writes it.
func FromErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		Error(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, fs.ErrExist):
		Error(w, http.StatusConflict, CodeExists, err.Error())
	case errors.Is(err, fs.ErrPermission):
		Error(w, http.StatusForbidden, CodeInvalid, err.Error())
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTEMPTY),
		errors.Is(err, syscall.EINVAL), errors.Is(err, os.ErrInvalid):
		Error(w, http.StatusBadRequest, CodeInvalid, err.Error())
	default:
		Error(w, http.StatusInternalServerError, CodeInternal, err.Error())
	}
}
