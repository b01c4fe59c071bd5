package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/volant-sh/volant/auth"
)

// Serve answers the API on cfg.Listen (TLS when configured) and on the
// state directory's unix socket until ctx ends, then shuts down gracefully.
func (d *Daemon) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is another volantd running? pass --listen)", d.cfg.Listen, err)
	}
	return d.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened.
func (d *Daemon) ServeListener(ctx context.Context, ln net.Listener) error {
	sock := SocketPath(d.cfg.StateDir)
	_ = os.Remove(sock)
	uln, err := net.Listen("unix", sock)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listening on %s: %w", sock, err)
	}
	_ = os.Chmod(sock, 0o600)
	// DNS rebinding protection for REST and MCP alike; the unix socket is
	// not checked.
	srv := &http.Server{Handler: auth.HostGuard(d.cfg.AllowedHosts, d.handle), ReadHeaderTimeout: 10 * time.Second}
	if d.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(d.cfg.TLSCert, d.cfg.TLSKey)
		if err != nil {
			ln.Close()
			uln.Close()
			return fmt.Errorf("loading tls certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	d.log.Info("volantd listening", "addr", ln.Addr().String(), "socket", sock, "tls", d.cfg.TLSCert != "")
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- srv.Serve(uln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = os.Remove(sock)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
