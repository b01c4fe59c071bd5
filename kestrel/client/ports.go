package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// DialPort opens a tunnel to TCP port on the guest's loopback over the agent
// channel; the guest needs no networking. The returned conn carries the TCP
// stream; if the agent connection can half-close, so can it (CloseWrite).
// When nothing listens on the port, the error is an *Error with status 502.
func (c *Client) DialPort(ctx context.Context, port int) (net.Conn, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("port %d is not a TCP port: pass a number from 1 to 65535", port)
	}
	conn, err := c.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dialing the agent for port %d: %w", port, err)
	}
	// The handshake obeys ctx; the tunnel outlives it.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	br, err := upgradePort(conn, port)
	if !stop() || err != nil {
		conn.Close()
		if err == nil || ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	bc := &bufConn{Conn: conn, r: br}
	if _, ok := conn.(closeWriter); ok {
		return &bufConnCW{bc}, nil
	}
	return bc, nil
}

// upgradePort sends the tunnel request and reads the 101 answer. The
// returned reader holds any tunnel bytes read past the answer.
func upgradePort(conn net.Conn, port int) (*bufio.Reader, error) {
	path := fmt.Sprintf("/v1/ports/%d/connect", port)
	req, err := http.NewRequest(http.MethodGet, BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("agent GET %s: %w", path, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("agent GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return br, nil
}

type closeWriter interface {
	CloseWrite() error
}

// bufConn is a tunnel whose first bytes may sit in the handshake's reader.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}

// WriteTo lets io.Copy drain the buffer, then read the conn directly.
func (c *bufConn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if k := c.r.Buffered(); k > 0 {
		b, _ := c.r.Peek(k)
		m, err := w.Write(b)
		_, _ = c.r.Discard(m)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	m, err := io.Copy(w, c.Conn)
	return n + m, err
}

// bufConnCW is a bufConn over a connection that can half-close.
type bufConnCW struct{ *bufConn }

// CloseWrite sends EOF to the guest port while reading goes on.
func (c *bufConnCW) CloseWrite() error { return c.Conn.(closeWriter).CloseWrite() }
