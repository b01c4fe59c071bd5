package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/store"
)

// ExecRequest runs one command in a sandbox.
type ExecRequest struct {
	// Cmd is the argv; Cmd[0] is looked up in PATH.
	Cmd []string `json:"cmd"`
	// Env is added to the sandbox's own env for this command.
	Env map[string]string `json:"env,omitempty"`
	// Cwd is the working directory; empty means /root.
	Cwd string `json:"cwd,omitempty"`
	// User runs the command as this user name or uid; empty means root.
	User string `json:"user,omitempty"`
	// Stdin is fed to the command, then closed.
	Stdin []byte `json:"stdin,omitempty"`
	// Timeout kills the command's process group after this long; 0 means
	// the default (DefaultExecTimeout).
	Timeout time.Duration `json:"-"`
	// MaxOutputBytes caps each buffered stream; 0 means 1 MiB.
	MaxOutputBytes int `json:"max_output_bytes,omitempty"`
}

// ExecCommand is an exec request as callers send it, with its timeout in
// seconds: REST and MCP bind it, and Request makes the engine's request.
type ExecCommand struct {
	Cmd            []string          `json:"cmd" minItems:"1" maxItems:"4096" doc:"The argv; cmd[0] is looked up in PATH. For a shell line use [\"sh\", \"-c\", \"...\"]." jsonschema:"the command as an argv array, e.g. [\"sh\", \"-c\", \"ls -l | wc -l\"]; cmd[0] is looked up in PATH"`
	Env            map[string]string `json:"env,omitempty" doc:"Added to the sandbox's environment for this command." jsonschema:"environment variables for this command"`
	Cwd            string            `json:"cwd,omitempty" maxLength:"4096" doc:"Absolute working directory; empty means /root." jsonschema:"absolute working directory; empty means /root"`
	User           string            `json:"user,omitempty" maxLength:"256" doc:"User name or uid; empty means root." jsonschema:"run as this user name or uid; empty means root"`
	Stdin          string            `json:"stdin,omitempty" maxLength:"16777216" doc:"Fed to the command, then closed." jsonschema:"text fed to the command's standard input, then closed"`
	TimeoutS       int               `json:"timeout_s,omitempty" minimum:"0" maximum:"86400" doc:"Kill the command's process group after this many seconds; 0 means 60." jsonschema:"kill the command's process group after this many seconds; 0 means 60"`
	MaxOutputBytes int               `json:"max_output_bytes,omitempty" minimum:"0" maximum:"67108864" doc:"Cap on each buffered stream; 0 means 1 MiB. The result says when output was truncated." jsonschema:"cap on each of stdout and stderr; 0 means 1 MiB"`
}

// Request is c as the engine's request (Validate checks it).
func (c ExecCommand) Request() ExecRequest {
	req := ExecRequest{
		Cmd: c.Cmd, Env: c.Env, Cwd: c.Cwd, User: c.User,
		Timeout: Seconds(c.TimeoutS), MaxOutputBytes: c.MaxOutputBytes,
	}
	if c.Stdin != "" {
		req.Stdin = []byte(c.Stdin)
	}
	return req
}

// DefaultExecTimeout and MaxExecTimeout bound ExecRequest.Timeout.
const (
	DefaultExecTimeout = 60 * time.Second
	MaxExecTimeout     = 24 * time.Hour
	maxStdin           = 16 << 20
	maxArgs            = 4096
)

// Validate reports what is wrong with r.
func (r ExecRequest) Validate() error {
	if len(r.Cmd) == 0 || r.Cmd[0] == "" {
		return errdefs.Invalid("cmd: give the command as a non-empty argv array, e.g. [\"sh\", \"-c\", \"echo hi\"]")
	}
	if len(r.Cmd) > maxArgs {
		return errdefs.Invalid("cmd: %d arguments is more than %d", len(r.Cmd), maxArgs)
	}
	for i, a := range r.Cmd {
		if strings.ContainsRune(a, 0) {
			return errdefs.Invalid("cmd[%d]: contains a NUL byte", i)
		}
	}
	if r.Cwd != "" && (!strings.HasPrefix(r.Cwd, "/") || len(r.Cwd) > MaxPathLen) {
		return errdefs.Invalid("cwd %q: must be an absolute path", clip(r.Cwd))
	}
	if len(r.User) > 256 {
		return errdefs.Invalid("user: %d bytes is longer than 256; give a user name or uid", len(r.User))
	}
	if r.Timeout < 0 || r.Timeout > MaxExecTimeout {
		return errdefs.Invalid("timeout_s: must be between 0 (default %d) and %d seconds", int(DefaultExecTimeout/time.Second), int(MaxExecTimeout/time.Second))
	}
	if len(r.Stdin) > maxStdin {
		return errdefs.Invalid("stdin: at most %d bytes; upload larger input as a file", maxStdin)
	}
	for k := range r.Env {
		if !envKeyRE.MatchString(k) {
			return errdefs.Invalid("env %q: names are letters, digits and '_', not starting with a digit", k)
		}
	}
	if r.MaxOutputBytes < 0 || r.MaxOutputBytes > 64<<20 {
		return errdefs.Invalid("max_output_bytes: must be between 0 (default 1 MiB) and 64 MiB")
	}
	return nil
}

// ExecResult is a finished command.
type ExecResult struct {
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	ExitCode        int    `json:"exit_code"`
	Signal          string `json:"signal,omitempty"`
	TimedOut        bool   `json:"timed_out,omitempty"`
	StdoutTruncated bool   `json:"stdout_truncated"`
	StderrTruncated bool   `json:"stderr_truncated"`
	DurationMS      int64  `json:"duration_ms"`
	// Error says why the command could not start (exit code 126 or 127):
	// not found, not executable. It is also the last line of Stderr.
	Error string `json:"error,omitempty" doc:"Why the command could not start (exit code 126 or 127); also the last line of stderr." jsonschema:"why the command could not start (exit code 126 or 127)"`
}

// OutputFunc receives output as the command produces it; stream is
// "stdout" or "stderr".
type OutputFunc func(stream string, data []byte)

// Exec runs a command in a running sandbox and waits for it. When out is
// not nil, output is passed to it as produced. Cancelling ctx kills the
// command's process group in the guest.
func (m *Manager) Exec(ctx context.Context, idOrName string, req ExecRequest, out OutputFunc) (*ExecResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	rec, in, err := m.running(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	env := make([]string, 0, len(req.Env))
	for k, v := range specOf(rec).Spec.Env {
		if _, over := req.Env[k]; !over {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range req.Env {
		env = append(env, k+"="+v)
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = DefaultExecTimeout
	}
	creq := client.ExecRequest{
		Argv: req.Cmd, Env: env, Cwd: req.Cwd, User: req.User, Stdin: req.Stdin,
		TimeoutMS: timeout.Milliseconds(), MaxOutputBytes: req.MaxOutputBytes,
	}
	m.publish(ctx, events.ExecStarted, rec.ID, map[string]any{"cmd": req.Cmd})
	// A streamed exec's final frame carries no output: keep it here.
	var capture *outputCapture
	var onOut func(string, []byte)
	if out != nil {
		capture = newOutputCapture(req.MaxOutputBytes)
		onOut = func(s string, b []byte) {
			capture.add(s, b)
			out(s, b)
		}
	}
	// hung.go: the answer is waited for the command's timeout and a grace.
	actx, cancel := m.agentDeadline(ctx, timeout)
	defer cancel()
	res, err := in.agent.Exec(actx, creq, onOut)
	if herr := m.agentTimedOut(ctx, actx, rec, err); herr != nil {
		return nil, herr
	}
	if err == nil {
		m.agentAnswered(ctx, rec)
	}
	if err != nil {
		if ctx.Err() != nil {
			m.publish(ctx, events.ExecFinished, rec.ID, map[string]any{"cmd": req.Cmd, "cancelled": true})
			return nil, fmt.Errorf("exec in %s cancelled: %w", rec.ID, ctx.Err())
		}
		if isNotFoundCmd(err) {
			return nil, errdefs.Invalid("command %q not found in sandbox %s: %v", req.Cmd[0], rec.ID, err)
		}
		return nil, fmt.Errorf("exec in %s: %w", rec.ID, err)
	}
	r := &ExecResult{
		Stdout: string(res.Stdout), Stderr: string(res.Stderr),
		ExitCode: res.ExitCode, Signal: res.Signal, TimedOut: res.TimedOut,
		StdoutTruncated: res.StdoutTruncated, StderrTruncated: res.StderrTruncated,
		DurationMS: res.DurationMS,
	}
	if capture != nil {
		capture.fill(r)
	}
	if res.Error != "" {
		// A shell says why a command did not start on stderr; so do we.
		r.Error = res.Error
		r.Stderr += res.Error + "\n"
	}
	m.publish(ctx, events.ExecFinished, rec.ID, map[string]any{"cmd": req.Cmd, "exit_code": r.ExitCode, "duration_ms": r.DurationMS})
	return r, nil
}

// running returns the record and live VM of a running sandbox, or an
// error that says what to do, and marks the sandbox active.
func (m *Manager) running(ctx context.Context, idOrName string) (store.Sandbox, *instance, error) {
	rec, err := m.record(ctx, idOrName)
	if err != nil {
		return rec, nil, err
	}
	if State(rec.State) == StateHibernated { // hibernate.go
		if rec, err = m.wake(ctx, rec.ID); err != nil {
			return rec, nil, err
		}
	}
	if err := needRunning(fromRecord(rec)); err != nil {
		return rec, nil, err
	}
	in, ok := m.instance(rec.ID)
	if !ok {
		return rec, nil, errdefs.Unavailable("sandbox %s has no live VM; it may have just failed, get it to see why", rec.ID)
	}
	m.touch(ctx, rec)
	return rec, in, nil
}

func isNotFoundCmd(err error) bool {
	return errors.Is(err, errdefs.ErrNotFound)
}
