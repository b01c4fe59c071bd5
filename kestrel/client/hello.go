package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// The virtio-serial channel is one byte stream that outlives its hosts: a
// host hangs up and another connects (after a snapshot, a restore, a
// daemon restart), and the guest learns of it from control messages that
// reach it on their own queue, possibly after the new host's first bytes.
// So the session boundary is marked in the stream itself. A host that
// connects first writes SerialHello, and reads until SerialHelloAnswer,
// discarding what comes before it (bytes a session of an earlier host was
// still writing); then it starts its yamux client. The agent starts a new
// yamux session at each SerialHello it reads at a frame boundary (or
// anywhere, while it has no session), and only there: a hang-up does not
// end a session, so a late hang-up notice cannot end the new host's.
//
// SerialHello is a yamux ping (version 0, type 2, flag SYN, stream 0) with
// the opaque value "vola"; SerialHelloAnswer is its acknowledgement (flag
// ACK), which any yamux server sends back to it, so the agent's new
// session itself answers, after whatever the old one wrote.
var (
	SerialHello       = [12]byte{0, 2, 0, 1, 0, 0, 0, 0, 'v', 'o', 'l', 'a'}
	SerialHelloAnswer = [12]byte{0, 2, 0, 2, 0, 0, 0, 0, 'v', 'o', 'l', 'a'}
)

// ErrNoHelloAnswer says the agent did not answer a host's hello in time:
// it is not up yet (booting), starved, or missed the hello (its session
// lost track of frame boundaries); connecting again sends a new one.
var ErrNoHelloAnswer = errors.New("the agent did not answer the channel's hello")

// SerialConn is a host's connection to the virtio-serial channel.
type SerialConn interface {
	io.ReadWriter
	SetDeadline(time.Time) error
}

// GreetSerial opens a session on a new connection to the virtio-serial
// channel: it writes SerialHello and waits up to wait (or ctx) for
// SerialHelloAnswer. It returns what it read after the answer, the
// session's first bytes: run the yamux client over WithPrefix(conn, rest).
// On error conn is left to the caller to close.
func GreetSerial(ctx context.Context, conn SerialConn, wait time.Duration) (rest []byte, err error) {
	dl := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	if err := conn.SetDeadline(dl); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	rest, err = greet(conn)
	if !stop() {
		return nil, ctx.Err()
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w within %s: %w", ErrNoHelloAnswer, wait, errdefs.ErrUnavailable)
		}
		return nil, fmt.Errorf("greeting the agent: %w", errors.Join(errdefs.ErrUnavailable, err))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return rest, nil
}

// greet writes the hello and reads up to the answer; it returns the bytes
// read after it.
func greet(conn io.ReadWriter) ([]byte, error) {
	if _, err := conn.Write(SerialHello[:]); err != nil {
		return nil, err
	}
	var seen []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		seen = append(seen, buf[:n]...)
		if i := bytes.Index(seen, SerialHelloAnswer[:]); i >= 0 {
			return bytes.Clone(seen[i+len(SerialHelloAnswer):]), nil
		}
		if err != nil {
			return nil, err
		}
		// Keep only what could be the start of the answer.
		if k := len(SerialHelloAnswer) - 1; len(seen) > k {
			seen = append(seen[:0], seen[len(seen)-k:]...)
		}
	}
}

// WithPrefix returns conn reading rest before what conn itself reads.
func WithPrefix(conn net.Conn, rest []byte) net.Conn {
	return &prefixConn{Conn: conn, rest: rest}
}

type prefixConn struct {
	net.Conn
	rest []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
