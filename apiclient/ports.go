package apiclient

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// PortURL returns the URL that reaches path on TCP port port inside the
// sandbox, through the API's port proxy. Requests to it need the client's
// token; PortDo and PortWebSocket add it.
func (c *Client) PortURL(idOrName string, port int, path string) string {
	return c.base + portPath(idOrName, port, path)
}

func portPath(idOrName string, port int, path string) string {
	return sandboxPath(idOrName, "ports", strconv.Itoa(port)) + "/" + strings.TrimPrefix(path, "/")
}

// PortDo sends a request of any method to path (with its query, if any)
// on port port inside the sandbox and returns the answer as is, whatever
// its status: the guest server's, or the proxy's own refusal (no such
// sandbox, not running, nothing listening: 502), which is a problem
// document that ResponseError decodes. The caller closes the body.
func (c *Client) PortDo(ctx context.Context, idOrName string, port int, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	p, query, _ := strings.Cut(portPath(idOrName, port, path), "?")
	req, err := c.newRequest(ctx, request{method: method, path: p, body: body, header: header})
	if err != nil {
		return nil, err
	}
	req.URL.RawQuery = query
	if header.Get("Accept") == "" {
		req.Header.Del("Accept")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &TransportError{Method: method, URL: req.URL.Redacted(), Err: err}
	}
	return resp, nil
}

// ResponseError returns the error of an answer whose status is not a
// success, as an *Error (with its class and remedies), reading and
// closing its body; for a success it returns nil and leaves the body.
func ResponseError(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	defer resp.Body.Close()
	return decodeError(resp)
}

// PortWebSocket opens a WebSocket to path on port port inside the
// sandbox, through the port proxy.
func (c *Client) PortWebSocket(ctx context.Context, idOrName string, port int, path string) (*websocket.Conn, error) {
	return c.dialWebSocket(ctx, portPath(idOrName, port, path))
}

// SignedPortURL is a signed URL to a guest port on its own origin.
type SignedPortURL struct {
	URL       string    `json:"url"`
	Origin    string    `json:"origin"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SignPortURL asks for a URL that opens TCP port port of the sandbox in a
// browser, on the port's own origin (http://<port>-<id>.localhost:<api
// port>/), without the client's token: it grants that port only, for
// ttlSeconds (0: one hour, at most a day).
func (c *Client) SignPortURL(ctx context.Context, idOrName string, port, ttlSeconds int) (*SignedPortURL, error) {
	body := struct {
		Port int `json:"port"`
		TTL  int `json:"ttl_s,omitempty"`
	}{port, ttlSeconds}
	var out SignedPortURL
	if err := c.call(ctx, request{method: http.MethodPost, path: sandboxPath(idOrName, "port-urls"), jsonBody: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
