// Package errdefs holds the small set of error classes every Volant package
// wraps its errors in. Callers test them with errors.Is; only the rest and mcp
// adapters translate them into status codes or tool errors.
package errdefs

import "errors"

// The error classes. Wrap them with context, for example
// fmt.Errorf("sandbox %s: %w", id, errdefs.ErrNotFound).
var (
	// ErrNotFound means the named thing does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a thing with that name or id already exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means the thing is in a state that does not allow the operation.
	ErrConflict = errors.New("conflict")
	// ErrInvalidArgument means the caller's input is wrong; the message says how.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable means a dependency (VMM, agent, host facility) cannot be reached now.
	ErrUnavailable = errors.New("unavailable")
	// ErrResourceExhausted means a budget (CPU, memory, addresses) is used up.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrUnauthenticated means the request carried no valid credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
)

// Invalid returns an ErrInvalidArgument error with a message that says what to fix.
func Invalid(format string, args ...any) error {
	return wrap(ErrInvalidArgument, format, args...)
}

// NotFound returns an ErrNotFound error with the given message.
func NotFound(format string, args ...any) error {
	return wrap(ErrNotFound, format, args...)
}

// Conflict returns an ErrConflict error with the given message.
func Conflict(format string, args ...any) error {
	return wrap(ErrConflict, format, args...)
}

// Unavailable returns an ErrUnavailable error with the given message.
func Unavailable(format string, args ...any) error {
	return wrap(ErrUnavailable, format, args...)
}

// Exhausted returns an ErrResourceExhausted error with the given message.
func Exhausted(format string, args ...any) error {
	return wrap(ErrResourceExhausted, format, args...)
}
