package client

import "github.com/volant-sh/volant/errdefs"

// Is maps the agent's error codes to errdefs classes, so that
// errors.Is(err, errdefs.ErrNotFound) holds for an agent "not_found".
func (e *Error) Is(target error) bool {
	return target != nil && e.class() == target
}

// class is the errdefs class of the agent's code, or nil.
func (e *Error) class() error {
	switch e.Code {
	case "invalid":
		return errdefs.ErrInvalidArgument
	case "not_found":
		return errdefs.ErrNotFound
	case "exists":
		return errdefs.ErrAlreadyExists
	case "conflict":
		return errdefs.ErrConflict
	case "unavailable":
		return errdefs.ErrUnavailable
	case "too_large":
		return errdefs.ErrResourceExhausted
	}
	switch {
	case e.Status == 404:
		return errdefs.ErrNotFound
	case e.Status == 409:
		return errdefs.ErrConflict
	case e.Status == 503:
		return errdefs.ErrUnavailable
	case e.Status == 400:
		return errdefs.ErrInvalidArgument
	}
	return nil
}
