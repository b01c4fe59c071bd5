package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// internalDetail is all a client learns of an unexpected error; the error
// itself is logged.
const internalDetail = "internal error; the server log has the details (search for the request path), and retrying may help"

// classify maps err to an HTTP status and the message a client may see
// (without remedies). Only errors of a known class, or answered by the
// guest agent, show their message.
func classify(err error) (int, string) {
	var ae *client.Error
	if errors.As(err, &ae) && ae.Status == http.StatusRequestEntityTooLarge {
		return http.StatusRequestEntityTooLarge, ae.Message
	}
	switch {
	case errors.Is(err, errdefs.ErrInvalidArgument):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, errdefs.ErrUnauthenticated):
		return http.StatusUnauthorized, err.Error()
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrAlreadyExists):
		return http.StatusConflict, err.Error()
	case errors.Is(err, errdefs.ErrResourceExhausted):
		return http.StatusTooManyRequests, err.Error()
	case errors.Is(err, errdefs.ErrUnavailable):
		return http.StatusServiceUnavailable, err.Error()
	case errors.As(err, &ae):
		// The guest agent's answer: its 4xx are the caller's to fix.
		if ae.Status >= 400 && ae.Status < 500 {
			return ae.Status, ae.Message
		}
		return http.StatusBadGateway, "the sandbox's agent failed: " + ae.Message
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "the operation timed out; retry, or give it a longer timeout"
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "the request body is too large; the limit is " + formatBytes(mbe.Limit)
	}
	return http.StatusInternalServerError, internalDetail
}

// problemOf is the problem document of err: its detail is the engine's
// message followed by the remedies as routes; message and remedies carry
// the same unrendered, for programs.
func problemOf(err error) *problem {
	status, msg := classify(err)
	p := &problem{ErrorModel: huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: msg}}
	if status == http.StatusInternalServerError {
		return p
	}
	p.Message = msg
	p.Remedies = errdefs.Remedies(err)
	p.Detail = withRemedies(msg, p.Remedies)
	return p
}

// fail turns an engine error into a Huma error, logging unexpected ones.
func (s *server) fail(ctx context.Context, what string, err error) error {
	p := problemOf(err)
	s.logFailure(ctx, what, p.Status, err)
	return p
}

func (s *server) logFailure(ctx context.Context, what string, status int, err error) {
	switch {
	case errors.Is(err, context.Canceled):
		s.log.DebugContext(ctx, "request cancelled", "op", what, "err", err)
	case status >= 500 && status != http.StatusServiceUnavailable:
		s.log.ErrorContext(ctx, "request failed", "op", what, "status", status, "err", err)
	}
}

// problem is the RFC 9457 document of every error answer: Huma's (title,
// status, detail, errors) with two extension members, message (the
// engine's message, with no rendering) and remedies (the operations that
// get past the error, as errdefs.Remedy). detail is message followed by
// the remedies as routes.
type problem struct {
	huma.ErrorModel
	Message  string           `json:"message,omitempty" doc:"The engine's message, without the remedies rendered into detail."`
	Remedies []errdefs.Remedy `json:"remedies,omitempty" doc:"Operations that get past the error, with their arguments."`
}

// humaNewError is Huma's own error constructor.
var humaNewError = huma.NewError

// Huma's own errors (bad parameters, bodies that do not match their
// schema) and the documented error responses have the problem shape too.
func init() { huma.NewError = newProblem }

func newProblem(status int, msg string, errs ...error) huma.StatusError {
	he, _ := humaNewError(status, msg, errs...).(*huma.ErrorModel)
	if he == nil {
		he = &huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: msg}
	}
	// Huma echoes the offending value; a hostile request's megabytes are
	// not sent back.
	for _, d := range he.Errors {
		if d != nil {
			d.Value = clipValue(d.Value)
		}
	}
	return &problem{ErrorModel: *he}
}

// writeProblem writes a problem document.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	writeProblemDoc(w, &problem{ErrorModel: huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail}})
}

func writeProblemDoc(w http.ResponseWriter, p *problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("Content-Length")
	w.WriteHeader(p.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p)
}

// writeError writes err as a problem document, logging unexpected errors.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	p := problemOf(err)
	s.logFailure(r.Context(), what, p.Status, err)
	writeProblemDoc(w, p)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return itoa(n>>30) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

// writeJSONResponse writes v as a JSON answer.
func writeJSONResponse(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// maxEchoed bounds how much of a refused value an error answer repeats.
const maxEchoed = 128

// clipValue is v as an error may echo it: short values as they are, long
// strings cut, and large structures left out.
func clipValue(v any) any {
	switch x := v.(type) {
	case nil, bool, int, int64, float64:
		return v
	case string:
		if len(x) > maxEchoed {
			return x[:maxEchoed] + "..."
		}
		return x
	}
	if b, err := json.Marshal(v); err != nil || len(b) > maxEchoed {
		return nil
	}
	return v
}
