// Package apiclient is the Go client of Volant's REST API: one method for
// every route volantd serves, with the engine's own types on the wire
// (sandbox.Spec, sandbox.Sandbox, plugins.Plugin, events.Event, the
// kestrel/client file types). volar and the tests use it.
//
// Every call takes a context. An answer that is not a success is returned
// as an *Error whose class is the engine's: errors.Is(err,
// errdefs.ErrNotFound) holds for a 404, and errdefs.Remedies(err) returns
// the remedies the server attached.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultUserAgent is sent when Options.UserAgent is empty.
const DefaultUserAgent = "volant-apiclient"

// Options configure a Client. Only BaseURL is required.
type Options struct {
	// BaseURL is where the API is, e.g. http://127.0.0.1:7777. Paths are
	// appended to it; a trailing slash is ignored.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>" when not empty.
	Token string
	// HTTPClient carries the requests, WebSocket handshakes included;
	// nil means http.DefaultClient. Give one with a custom transport to
	// reach a unix socket.
	HTTPClient *http.Client
	// UserAgent is sent with every request; empty means
	// DefaultUserAgent.
	UserAgent string
}

// Client calls one volantd's REST API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
	ua    string
}

// New returns a client for opts. It fails only if BaseURL is not an
// http or https URL.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: use http://host:port or https://host:port", opts.BaseURL)
	}
	c := &Client{base: strings.TrimSuffix(opts.BaseURL, "/"), token: opts.Token, hc: opts.HTTPClient, ua: opts.UserAgent}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	if c.ua == "" {
		c.ua = DefaultUserAgent
	}
	return c, nil
}

// BaseURL returns the URL paths are appended to, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// HTTPClient returns the http.Client the requests go through.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// TransportError is a request that got no answer from the server: it
// could not be sent, or the connection broke before the answer's status.
type TransportError struct {
	Method, URL string
	Err         error
}

// Error says which request failed and why.
func (e *TransportError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.Method, e.URL, e.Err)
}

// Unwrap returns the transport's error.
func (e *TransportError) Unwrap() error { return e.Err }

// rawKey is the context key of WithRawAnswer.
type rawKey struct{}

// WithRawAnswer returns a context under which a call that answers JSON
// stores the answer's bytes, as the server sent them, in *raw. Callers
// that print the API's answer as is (volar --json) use it; others need
// not.
func WithRawAnswer(ctx context.Context, raw *[]byte) context.Context {
	return context.WithValue(ctx, rawKey{}, raw)
}

// request is one API call.
type request struct {
	method string
	path   string
	query  url.Values
	// body is sent as is with contentType; jsonBody is encoded as JSON.
	body        io.Reader
	contentType string
	jsonBody    any
	header      http.Header
}

// newRequest builds r's http.Request with the client's headers.
func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	body := r.body
	ctype := r.contentType
	if r.jsonBody != nil {
		b, err := json.Marshal(r.jsonBody)
		if err != nil {
			return nil, fmt.Errorf("encoding the body of %s %s: %w", r.method, r.path, err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json, application/problem+json")
	}
	req.Header.Set("User-Agent", c.ua)
	c.authorize(req.Header)
	return req, nil
}

func (c *Client) authorize(h http.Header) {
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
}

// do sends r and returns the response of a 2xx answer; any other answer
// is returned as an *Error, a failure to get one as a *TransportError
// (or the context's error).
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, req)
}

// send sends req as do does.
func (c *Client) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &TransportError{Method: req.Method, URL: req.URL.Redacted(), Err: err}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// call sends r and decodes a JSON answer into out (when not nil).
func (c *Client) call(ctx context.Context, r request, out any) error {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return err
	}
	return c.callRequest(ctx, req, out)
}

// callRequest sends req and decodes a JSON answer into out (when not
// nil), storing the answer's bytes for WithRawAnswer.
func (c *Client) callRequest(ctx context.Context, req *http.Request, out any) error {
	resp, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer of %s %s: %w", req.Method, req.URL.Path, err)
	}
	if raw, ok := ctx.Value(rawKey{}).(*[]byte); ok && raw != nil {
		*raw = b
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decoding the answer of %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return nil
}

// items is the shape of the API's list answers.
type items[T any] struct {
	Items []T `json:"items"`
}

// sandboxPath is the API path of a sandbox, or of one of its routes.
func sandboxPath(id string, more ...string) string {
	p := "/v1/sandboxes/" + url.PathEscape(id)
	for _, m := range more {
		p += "/" + m
	}
	return p
}
