// Package clienttest serves agent handlers in-process, on a loopback
// listener, so tests can talk to them with the real kestrel client.
package clienttest

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/volant-sh/volant/kestrel/client"
)

// Server is agent handlers served until the test ends.
type Server struct {
	Client *client.Client
	Addr   string // the listener's host:port
}

// Serve serves h on 127.0.0.1 until tb ends and returns a client dialing
// it. Cleanups the caller registered before Serve run after the server
// has stopped.
func Serve(tb testing.TB, h http.Handler) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	addr := ln.Addr().String()
	c := client.New(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
	tb.Cleanup(func() {
		c.CloseIdle()
		_ = srv.Close()
		<-done
	})
	return &Server{Client: c, Addr: addr}
}
