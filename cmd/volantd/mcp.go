package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/volant-sh/volant/daemon"
	"github.com/volant-sh/volant/mcp"
)

// mcpStdio serves MCP on stdin/stdout. If a daemon owns the state dir, it
// bridges to that daemon's /mcp over its unix socket; otherwise it runs
// the engine itself. Logs go to stderr only.
func mcpStdio(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log := logger(cfg, stderr)
	d, err := daemon.New(ctx, cfg, log)
	if errors.Is(err, daemon.ErrOwned) {
		log.Info("a daemon owns the state dir; bridging stdio to it", "socket", daemon.SocketPath(cfg.StateDir))
		tok, rerr := os.ReadFile(daemon.TokenPath(cfg.StateDir))
		if rerr != nil {
			return errors.New("a daemon owns the state dir but its token is unreadable: " + rerr.Error())
		}
		sock := daemon.SocketPath(cfg.StateDir)
		hc := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, "unix", sock)
			},
		}}
		return mcp.BridgeStdio(ctx, stdin, stdout, hc, "http://volantd/mcp", strings.TrimSpace(string(tok)))
	}
	if err != nil {
		return err
	}
	defer d.Close()
	return d.MCP().ServeStdio(ctx, stdin, stdout)
}
