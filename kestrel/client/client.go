package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DialFunc opens one new connection to the agent over the agent channel.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Client speaks the agent protocol (HTTP/1.1) over connections from Dial.
// It is safe for concurrent use.
type Client struct {
	dial DialFunc
	http *http.Client
}

// New returns a client that opens connections with dial.
func New(dial DialFunc) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx)
		},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &Client{dial: dial, http: &http.Client{Transport: tr}}
}

// Dial opens a raw connection to the agent, for protocols beyond plain
// request/response (WebSocket sessions, port tunnels).
func (c *Client) Dial(ctx context.Context) (net.Conn, error) { return c.dial(ctx) }

// HTTPClient returns the client's HTTP client, whose requests go to the agent
// whatever their host (use "http://agent/...").
func (c *Client) HTTPClient() *http.Client { return c.http }

// CloseIdle closes idle agent connections, for example before a snapshot.
func (c *Client) CloseIdle() { c.http.CloseIdleConnections() }

// BaseURL is the URL prefix of agent requests.
const BaseURL = "http://agent"

// Error is an error answered by the agent. Code is the HTTP status; the
// agent's body is {"error": "...", "code": "not_found|invalid|conflict|..."}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *Error) Error() string { return e.Message }

// Do sends a request with an optional JSON or raw body and returns the
// response when the status is 2xx; otherwise it returns an *Error.
// body may be nil, an io.Reader (sent raw) or a value (sent as JSON).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
		ctype = "application/octet-stream"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encoding %s request: %w", path, err)
		}
		rd = bytes.NewReader(buf)
		ctype = "application/json"
	}
	u := BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// DoJSON is Do followed by decoding a JSON answer into out (if not nil).
func (c *Client) DoJSON(ctx context.Context, method, path string, query url.Values, body, out any) error {
	resp, err := c.Do(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding agent answer to %s %s: %w", method, path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, e) != nil || e.Message == "" {
		e.Message = strings.TrimSpace(string(data))
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return e
}
