package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"
)

// Logs reads a sandbox's serial console log: the last tail lines (0: all
// that is kept) and, with follow, new output as it is written until ctx
// ends or the caller closes the reader.
func (c *Client) Logs(ctx context.Context, idOrName string, tail int, follow bool) (io.ReadCloser, error) {
	q := url.Values{}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	if follow {
		q.Set("follow", "true")
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: sandboxPath(idOrName, "logs"), query: q,
		header: http.Header{"Accept": {"text/plain, application/problem+json"}}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ConsoleStream is the read-only console WebSocket of a sandbox.
type ConsoleStream struct {
	conn *websocket.Conn
}

// Console opens the console WebSocket: the server sends the last tail
// lines (tail < 0: its default, 200; 0: all that is kept) and then new
// output as it is written.
func (c *Client) Console(ctx context.Context, idOrName string, tail int) (*ConsoleStream, error) {
	path := sandboxPath(idOrName, "console")
	if tail >= 0 {
		path += "?tail=" + strconv.Itoa(tail)
	}
	conn, err := c.dialWebSocket(ctx, path)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	return &ConsoleStream{conn: conn}, nil
}

// Next returns the next chunk of console output. When the server closes
// the console normally it returns io.EOF.
func (s *ConsoleStream) Next(ctx context.Context) ([]byte, error) {
	for {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return nil, io.EOF
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if typ == websocket.MessageBinary {
			return data, nil
		}
		// A text message is a failure the server reports before closing.
		if f, ok := errorFrame(data); ok {
			return nil, f
		}
	}
}

// Close ends the console session.
func (s *ConsoleStream) Close() error { return s.conn.CloseNow() }
