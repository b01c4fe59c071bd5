package mcp

import (
	"context"
	"errors"
	"fmt"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// toolError turns an engine or agent error into the error a tool returns;
// the SDK sends it as a result with isError set. Messages name tools, not
// REST routes, and say what to do next.
func toolError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("cancelled")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out; retry, with a larger timeout_s if the tool takes one")
	}
	msg := err.Error()
	var ae *client.Error
	switch {
	case errors.As(err, &ae):
		// The guest agent's messages already name the path or process.
		if errors.Is(err, errdefs.ErrInvalidArgument) {
			msg = "invalid arguments: " + msg
		} else if ae.Code == "" && ae.Status >= 500 {
			msg = "guest agent error: " + msg
		}
	case errors.Is(err, errdefs.ErrNotFound):
	case errors.Is(err, errdefs.ErrInvalidArgument):
		msg = "invalid arguments: " + msg
	case errors.Is(err, errdefs.ErrResourceExhausted), errors.Is(err, errdefs.ErrUnavailable),
		errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrAlreadyExists):
	default:
		return errors.New("internal error: " + msg + "; retry, and if it persists ask the operator to check the volantd logs")
	}
	return errors.New(withRemedies(msg, errdefs.Remedies(err)))
}

// agentError is toolError for errors of agent calls, adding hint to a
// "not found" answer (for example which tool lists what exists).
func agentError(err error, hint string) error {
	var ae *client.Error
	if errors.As(err, &ae) && errors.Is(err, errdefs.ErrNotFound) && hint != "" {
		return fmt.Errorf("%s; %s", toolError(err), hint)
	}
	return toolError(err)
}
