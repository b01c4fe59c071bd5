package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

const defaultAddr = "http://127.0.0.1:7777"

// client calls the REST API of one volantd.
type client struct {
	// base is the URL that paths are appended to, without a trailing slash.
	base string
	// addr is what the user gave, for messages.
	addr  string
	token string
	// tokenHint says where the token came from or why there is none.
	tokenHint string
	hc        *http.Client
	// wsDial is how WebSocket connections reach the server.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// newClient returns a client of addr (http://, https:// or unix://) that
// authenticates with token, or with the first readable token file when
// token is empty.
func newClient(addr, token string) (*client, error) {
	c := &client{addr: addr, token: token, tokenHint: "from --token or VOLANT_TOKEN"}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	switch {
	case strings.HasPrefix(addr, "unix://"):
		sock := strings.TrimPrefix(addr, "unix://")
		if sock == "" {
			return nil, fmt.Errorf("--addr %q: give the socket's path, e.g. unix:///var/lib/volant/volantd.sock", addr)
		}
		var d net.Dialer
		c.dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		}
		tr.DialContext = c.dial
		tr.Proxy = nil
		c.base = "http://volantd"
	case strings.HasPrefix(addr, "http://"), strings.HasPrefix(addr, "https://"):
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--addr %q: use http://host:port, https://host:port or unix:///path/volantd.sock", addr)
		}
		c.base = strings.TrimSuffix(addr, "/")
	default:
		if addr != "" && !strings.Contains(addr, "://") {
			// host:port
			c.base = "http://" + strings.TrimSuffix(addr, "/")
			break
		}
		return nil, fmt.Errorf("--addr %q: use http://host:port, https://host:port or unix:///path/volantd.sock", addr)
	}
	c.hc = &http.Client{Transport: tr}
	if c.token == "" {
		c.token, c.tokenHint = findToken()
	}
	return c, nil
}

// systemTokenFile is root's daemon's token; a variable for tests.
var systemTokenFile = "/var/lib/volant/token"

// tokenFiles are the places a token is looked for, in order.
func tokenFiles() []string {
	var files []string
	if d := os.Getenv("VOLANT_STATE_DIR"); d != "" {
		files = append(files, filepath.Join(d, "token"))
	}
	files = append(files, systemTokenFile)
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		files = append(files, filepath.Join(x, "volant", "token"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(h, ".local", "share", "volant", "token"))
	}
	return files
}

// findToken reads the first token file there is. It returns the token
// and a note on where it came from or why none was found.
func findToken() (string, string) {
	var denied []string
	for _, f := range tokenFiles() {
		b, err := os.ReadFile(f)
		if err == nil {
			if t := strings.TrimSpace(string(b)); t != "" {
				return t, "from " + f
			}
			continue
		}
		if errors.Is(err, fs.ErrPermission) {
			denied = append(denied, f)
		}
	}
	if len(denied) > 0 {
		return "", fmt.Sprintf("no token given and %s is not readable by this user: run as root (sudo), or pass --token / VOLANT_TOKEN", strings.Join(denied, ", "))
	}
	return "", "no token given and no token file found (" + strings.Join(tokenFiles(), ", ") + "): pass --token or set VOLANT_TOKEN (volantd writes the admin token to STATE_DIR/token)"
}

// apiError is an RFC 9457 problem answered by the API.
type apiError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	// Errors are Huma's validation details.
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
	// hint is added by the client (e.g. where the token should be).
	hint string
}

func (e *apiError) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if msg == "" {
		msg = fmt.Sprintf("the server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	var details []string
	for _, d := range e.Errors {
		if d.Location != "" {
			details = append(details, d.Location+": "+d.Message)
		} else {
			details = append(details, d.Message)
		}
	}
	if len(details) > 0 {
		msg += ": " + strings.Join(details, "; ")
	}
	if e.hint != "" {
		msg += " (" + e.hint + ")"
	}
	return msg
}

// decodeProblem reads an error answer.
func decodeProblem(resp *http.Response) *apiError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &apiError{}
	if err := json.Unmarshal(b, e); err != nil || (e.Detail == "" && e.Title == "") {
		e = &apiError{Detail: strings.TrimSpace(string(b))}
		if len(e.Detail) > 500 || strings.HasPrefix(e.Detail, "<") {
			e.Detail = ""
		}
	}
	e.Status = resp.StatusCode
	return e
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

// do sends r and returns the response of a 2xx answer; any other answer
// is returned as an *apiError.
func (c *client) do(ctx context.Context, r request) (*http.Response, error) {
	body := r.body
	ctype := r.contentType
	if r.jsonBody != nil {
		b, err := json.Marshal(r.jsonBody)
		if err != nil {
			return nil, err
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
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.unreachable(err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		e := decodeProblem(resp)
		if resp.StatusCode == http.StatusUnauthorized {
			e.hint = "token " + c.tokenHint
		}
		return nil, e
	}
	return resp, nil
}

// unreachable explains a transport error.
func (c *client) unreachable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot reach volantd at %s: %v; is `volantd serve` running? (set --addr or VOLANT_ADDR)", c.addr, err)
}

// call sends r and decodes a JSON answer into out (when not nil). It
// returns the answer's raw bytes, for --json.
func (c *client) call(ctx context.Context, r request, out any) ([]byte, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s %s: %w", r.method, r.path, err)
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("decoding the answer of %s %s: %w", r.method, r.path, err)
		}
	}
	return b, nil
}

// sandboxPath is the API path of a sandbox, or of one of its routes.
func sandboxPath(id string, more ...string) string {
	p := "/v1/sandboxes/" + url.PathEscape(id)
	for _, m := range more {
		p += "/" + m
	}
	return p
}
