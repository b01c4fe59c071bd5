package ports

import (
	"bufio"
	"io"
	"net"
)

// closeWriter is a connection that can half-close: send EOF, keep reading.
type closeWriter interface {
	CloseWrite() error
}

// join copies bytes between a and b until both directions end, then closes
// both. When one side sends EOF the other is half-closed (if it can be) and
// the opposite direction goes on; when a copy fails, both are closed.
func join(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(b, a)
	}()
	pipe(a, b)
	<-done
	a.Close()
	b.Close()
}

// pipe copies src to dst and passes src's EOF on as a half-close of dst.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(closeWriter); err == nil && ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	// An error, or dst cannot half-close: end both directions.
	dst.Close()
	src.Close()
}

// bufferedConn is a hijacked connection whose first bytes may already be in
// the server's bufio.Reader.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite half-closes the connection when the underlying one can.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
