package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// peeked is what the first bytes of a connection said.
type peeked struct {
	// head is every byte read so far; it is sent upstream first.
	head []byte
	// name is the TLS SNI or the HTTP Host, normalized; empty if none.
	name string
	tls  bool
	http bool
}

// recorder is a read-only view of a conn that keeps what it reads.
type recorder struct {
	net.Conn
	buf bytes.Buffer
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.buf.Write(b[:n])
	return n, err
}

func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }

// peek reads a connection's first bytes, within wait, to find the name it
// is for: the SNI of a TLS ClientHello or the Host of an HTTP request.
func peek(c net.Conn, wait time.Duration) peeked {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	rec := &recorder{Conn: c}
	var first [1]byte
	n, _ := rec.Read(first[:])
	if n == 0 {
		return peeked{head: rec.buf.Bytes()}
	}
	br := bufio.NewReader(&prefixConn{Conn: rec, r: readerChain(first[:n], rec)})
	switch {
	case first[0] == 0x16: // TLS handshake record
		var sni string
		srv := tls.Server(&prefixConn{Conn: rec, r: br}, &tls.Config{
			GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				sni = h.ServerName
				return nil, errPeekDone
			},
		})
		_ = srv.Handshake()
		return peeked{head: rec.buf.Bytes(), name: NormalizeName(sni), tls: true}
	case first[0] >= 'A' && first[0] <= 'Z':
		req, err := http.ReadRequest(br)
		if err != nil {
			return peeked{head: rec.buf.Bytes(), http: true}
		}
		_ = req.Body
		return peeked{head: rec.buf.Bytes(), name: hostName(req.Host), http: true}
	}
	return peeked{head: rec.buf.Bytes()}
}

// readerChain reads first, then r.
func readerChain(first []byte, r *recorder) *chain { return &chain{first: first, r: r} }

type chain struct {
	first []byte
	r     *recorder
}

func (c *chain) Read(b []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(b, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.r.Read(b)
}
