package cloudhypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// handshakeTimeout bounds one CONNECT/OK exchange.
const handshakeTimeout = 5 * time.Second

// errRefused is a handshake the VMM ended without an OK: nobody listens
// on the guest port yet (the guest boots, or is being restored).
var errRefused = errors.New("the guest refused the vsock connection (no listener on the port yet)")

// dialHybridVsock opens a stream to port in the guest through Cloud
// Hypervisor's hybrid vsock: connect to the VM's vsock unix socket, send
// "CONNECT <port>\n", read "OK <host port>\n"; then the stream is raw. A
// socket that is not there yet, or a handshake the VMM closes, is retried
// with backoff until ctx ends (the guest may still be booting, or the VM
// being restored); a malformed answer is an error at once.
func dialHybridVsock(ctx context.Context, socket string, port uint32) (net.Conn, error) {
	delay := 5 * time.Millisecond
	var last error
	for {
		c, err := hybridVsockOnce(ctx, socket, port)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			// An attempt cut short by ctx says less than the one before.
			if last == nil {
				last = err
			}
			return nil, fmt.Errorf("connecting to vsock port %d through %s: %w (last: %v)", port, socket, ctx.Err(), last)
		}
		if !retryable(err) {
			return nil, err
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to vsock port %d through %s: %w (last: %v)", port, socket, ctx.Err(), last)
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// retryable reports whether a failed handshake may work later.
func retryable(err error) bool {
	return errors.Is(err, errRefused) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func hybridVsockOnce(ctx context.Context, socket string, port uint32) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(handshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "CONNECT %d\n", port); err != nil {
		c.Close()
		return nil, err
	}
	line, err := readLine(c, 64)
	if err != nil {
		c.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("vsock port %d: %w", port, errRefused)
		}
		return nil, fmt.Errorf("vsock port %d: reading the handshake answer: %w", port, err)
	}
	if err := parseOK(line); err != nil {
		c.Close()
		return nil, fmt.Errorf("vsock port %d: %w", port, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// readLine reads up to and without '\n', one byte at a time, so that no
// byte of the stream after it is consumed.
func readLine(r io.Reader, limit int) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < limit {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				return string(b), nil
			}
			b = append(b, one[0])
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(b) > 0 {
				return "", fmt.Errorf("handshake answer %q ends without a newline", b)
			}
			return "", err
		}
	}
	return "", fmt.Errorf("handshake answer longer than %d bytes: %q", limit, b)
}

// parseOK checks a handshake answer is "OK <port>".
func parseOK(line string) error {
	rest, ok := strings.CutPrefix(line, "OK ")
	if !ok {
		return fmt.Errorf("malformed handshake answer %q: want \"OK <port>\"", line)
	}
	if _, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 32); err != nil {
		return fmt.Errorf("malformed handshake answer %q: %q is not a port", line, rest)
	}
	return nil
}
