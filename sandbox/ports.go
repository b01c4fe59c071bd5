package sandbox

import (
	"context"
	"net"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// PTYRequest opens an interactive terminal running Cmd; Rows and Cols of
// 0 mean 24x80.
type PTYRequest struct {
	ExecRequest
	Rows, Cols int
}

// Validate reports what is wrong with r.
func (r PTYRequest) Validate() error {
	if err := r.ExecRequest.Validate(); err != nil {
		return err
	}
	if r.Rows < 0 || r.Rows > 1000 || r.Cols < 0 || r.Cols > 1000 {
		return errdefs.Invalid("rows %d, cols %d: a terminal is 1-1000 rows and columns (0 means 24x80)", r.Rows, r.Cols)
	}
	return nil
}

// PTY opens a terminal session in a running sandbox; closing the session
// kills its processes. The sandbox's own environment is under req's.
func (g *Guest) PTY(ctx context.Context, req PTYRequest) (*client.PTYSession, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	return a.PTY(ctx, client.PTYRequest{
		Argv: req.Cmd, Env: mergeEnv(g.env, req.Env), Cwd: req.Cwd, User: req.User,
		Rows: uint16(req.Rows), Cols: uint16(req.Cols),
	})
}

// ValidatePort checks a TCP port number.
func ValidatePort(port int) error {
	if port < 1 || port > 65535 {
		return errdefs.Invalid("port %d: use a TCP port number from 1 to 65535", port)
	}
	return nil
}

// DialPort opens a tunnel to a TCP port inside a running sandbox (through
// the agent, with no guest networking).
func (g *Guest) DialPort(ctx context.Context, port int) (net.Conn, error) {
	a, err := g.agentFor(ctx, func() error { return ValidatePort(port) })
	if err != nil {
		return nil, err
	}
	return a.DialPort(ctx, port)
}
