package apiclient

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
)

// Error is an answer of the API that is not a success: an RFC 9457 problem
// document (application/problem+json), or whatever else the server sent
// with an error status.
//
// errors.Is(err, class) holds for the errdefs class of its status (see
// Class), and errdefs.Remedies(err) returns the remedies the server
// attached to the problem.
type Error struct {
	// Status is the HTTP status of the answer.
	Status int
	// Title is the problem's title, usually the status text.
	Title string
	// Detail is the problem's detail: the engine's message and, from a
	// server that renders remedies, the routes to call next.
	Detail string
	// Message is the engine's message without any rendering of the
	// remedies; it falls back to Detail when the server did not send one.
	Message string
	// Remedies are the operations the engine suggests, as the server
	// sent them.
	Remedies []errdefs.Remedy
	// Errors are the request validation's details (Huma's): where in
	// the request and what is wrong.
	Errors []*huma.ErrorDetail
}

// problem is the JSON of a problem document: Huma's error model plus
// Volant's two extension members.
type problem struct {
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail"`
	Message  string              `json:"message"`
	Remedies []errdefs.Remedy    `json:"remedies"`
	Errors   []*huma.ErrorDetail `json:"errors"`
}

// Error returns the engine's message and the validation details, if any.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Detail
	}
	if msg == "" {
		msg = e.Title
	}
	if msg == "" {
		msg = fmt.Sprintf("the server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	var details []string
	for _, d := range e.Errors {
		if d == nil {
			continue
		}
		if d.Location != "" {
			details = append(details, d.Location+": "+d.Message)
		} else {
			details = append(details, d.Message)
		}
	}
	if len(details) > 0 {
		msg += ": " + strings.Join(details, "; ")
	}
	return msg
}

// Class returns the errdefs class of the error's status, or nil for a
// status that has none.
func (e *Error) Class() error { return classOf(e.Status) }

// Is reports whether target is the error's class, so that errors.Is(err,
// errdefs.ErrNotFound) holds for a 404.
func (e *Error) Is(target error) bool {
	c := e.Class()
	return c != nil && c == target
}

// classOf maps a status back to the class the server mapped to it.
func classOf(status int) error {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		// 422 is Huma's answer to a request its validation rejects.
		return errdefs.ErrInvalidArgument
	case http.StatusUnauthorized:
		return errdefs.ErrUnauthenticated
	case http.StatusNotFound:
		return errdefs.ErrNotFound
	case http.StatusConflict:
		return errdefs.ErrConflict
	case http.StatusTooManyRequests:
		return errdefs.ErrResourceExhausted
	case http.StatusServiceUnavailable:
		return errdefs.ErrUnavailable
	}
	return nil
}

// decodeError reads the error answer resp.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var p problem
	if err := json.Unmarshal(b, &p); err != nil || (p.Detail == "" && p.Title == "" && p.Message == "") {
		p = problem{Detail: strings.TrimSpace(string(b))}
		// An HTML page or a long body is no message.
		if len(p.Detail) > 500 || strings.HasPrefix(p.Detail, "<") {
			p.Detail = ""
		}
	}
	p.Status = resp.StatusCode
	return p.err()
}

// err returns the problem as an error: an *Error, with its remedies
// attached the errdefs way.
func (p problem) err() error {
	e := &Error{Status: p.Status, Title: p.Title, Detail: p.Detail, Message: p.Message,
		Remedies: p.Remedies, Errors: p.Errors}
	if e.Message == "" {
		e.Message = e.Detail
	}
	var err error = e
	for _, r := range p.Remedies {
		kv := make([]string, 0, 2*len(r.Args))
		for _, name := range r.ArgNames() {
			kv = append(kv, name, r.Args[name])
		}
		err = errdefs.WithRemedy(err, r.Op, kv...)
	}
	return err
}

// errorFrame decodes a WebSocket text message {"type":"error",...} into
// the error it reports.
func errorFrame(data []byte) (error, bool) {
	var f ExecFrame
	if json.Unmarshal(data, &f) != nil || f.Type != "error" {
		return nil, false
	}
	return problem{Status: f.Status, Title: http.StatusText(f.Status), Detail: f.Message, Remedies: f.Remedies}.err(), true
}
