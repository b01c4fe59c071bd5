// Package ports serves the agent's port tunnel: a host connection is joined
// to a TCP port inside the guest, without guest networking on the host side.
//
// The host sends GET /v1/ports/{port}/connect with "Connection: Upgrade" and
// "Upgrade: tcp". The agent dials the port on the guest's loopback, answers
// 101 Switching Protocols, and from then on the agent connection carries
// the TCP stream's bytes both ways, half-closes included.
package ports

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// dialTimeout bounds connecting to a guest port.
const dialTimeout = 10 * time.Second

// Register adds the port routes to mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/ports/{port}/connect", handleConnect)
}

func handleConnect(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		reply.Invalid(w, fmt.Sprintf("port %q is not a TCP port: pass a number from 1 to 65535", r.PathValue("port")))
		return
	}
	if !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", "tcp") {
		reply.Error(w, http.StatusUpgradeRequired, reply.CodeInvalid,
			"the port tunnel needs the headers \"Connection: Upgrade\" and \"Upgrade: tcp\"")
		return
	}
	// A host that half-closes right after its request makes net/http cancel
	// the request context; the tunnel must still open, so dial without it.
	target, err := dialLocal(context.WithoutCancel(r.Context()), port)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			reply.Error(w, http.StatusBadGateway, reply.CodeUnavailable,
				fmt.Sprintf("nothing listens on port %d in the sandbox: start the server first, listening on 127.0.0.1 or 0.0.0.0", port))
			return
		}
		reply.Error(w, http.StatusBadGateway, reply.CodeUnavailable,
			fmt.Sprintf("connecting to port %d in the sandbox: %v", port, err))
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		target.Close()
		reply.Error(w, http.StatusInternalServerError, reply.CodeInternal, "the agent connection cannot carry a tunnel: "+err.Error())
		return
	}
	_ = conn.SetDeadline(time.Time{})
	_, err = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	if err == nil {
		err = brw.Flush()
	}
	if err != nil {
		conn.Close()
		target.Close()
		return
	}
	// Bytes the host sent after its request may already sit in brw.Reader.
	join(&bufferedConn{Conn: conn, r: brw.Reader}, target)
}

// dialLocal connects to port on the guest's loopback: IPv4 first, then
// IPv6 for servers that bind only ::1 (as "localhost" may resolve to).
func dialLocal(ctx context.Context, port int) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	p := strconv.Itoa(port)
	c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		return c, err
	}
	if c6, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", p)); err6 == nil {
		return c6, nil
	}
	return nil, err
}

// headerHas reports whether the comma-separated header key holds token.
func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}
