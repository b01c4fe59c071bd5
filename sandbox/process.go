package sandbox

import (
	"context"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// MaxProcessWait bounds how long one output read waits for news.
const MaxProcessWait = 60 * time.Second

// ProcessRequest names one background process.
type ProcessRequest struct {
	ProcessID string `json:"process_id" jsonschema:"id returned by process_start"`
}

// Validate reports what is wrong with r.
func (r ProcessRequest) Validate() error {
	if strings.TrimSpace(r.ProcessID) == "" {
		return errdefs.Invalid("process_id: required; it is the id the process start returned")
	}
	return validateRef("process_id", r.ProcessID)
}

// ReadProcessRequest reads a process's output after Offset, waiting up to
// WaitSeconds for something new.
type ReadProcessRequest struct {
	ProcessID   string `json:"process_id" jsonschema:"id returned by process_start"`
	Offset      int64  `json:"offset,omitempty" jsonschema:"read output after this offset: pass next_offset of the previous call; 0 reads all that is kept"`
	WaitSeconds int    `json:"wait_s,omitempty" jsonschema:"when nothing new is there, wait up to this many seconds (at most 60) for output or the end"`
}

// Validate reports what is wrong with r.
func (r ReadProcessRequest) Validate() error {
	if err := (ProcessRequest{r.ProcessID}).Validate(); err != nil {
		return err
	}
	if r.Offset < 0 {
		return errdefs.Invalid("offset %d: must not be negative", r.Offset)
	}
	if r.WaitSeconds < 0 || r.WaitSeconds > int(MaxProcessWait/time.Second) {
		return errdefs.Invalid("wait_s %d: must be between 0 and %d", r.WaitSeconds, int64(MaxProcessWait/time.Second))
	}
	return nil
}

// StartProcess starts req in the background; Timeout 0 means no limit.
// The sandbox's own environment is under req's.
func (g *Guest) StartProcess(ctx context.Context, req ExecRequest) (*client.ProcessInfo, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	creq := client.ExecRequest{
		Argv: req.Cmd, Env: mergeEnv(g.env, req.Env), Cwd: req.Cwd, User: req.User, Stdin: req.Stdin,
		TimeoutMS: req.Timeout.Milliseconds(), MaxOutputBytes: req.MaxOutputBytes,
	}
	info, err := a.StartProcess(ctx, creq)
	if err != nil && isNotFoundCmd(err) {
		return nil, errdefs.Invalid("command %q not found in sandbox %s: %v", req.Cmd[0], g.id, err)
	}
	return info, err
}

// Processes lists a sandbox's background processes.
func (g *Guest) Processes(ctx context.Context) ([]client.ProcessInfo, error) {
	a, err := g.agentFor(ctx, func() error { return nil })
	if err != nil {
		return nil, err
	}
	return a.Processes(ctx)
}

// Process describes one background process.
func (g *Guest) Process(ctx context.Context, req ProcessRequest) (*client.ProcessInfo, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	info, err := a.Process(ctx, req.ProcessID)
	return info, processError(err)
}

// ReadProcess reads a process's output and its end, if it has ended.
func (g *Guest) ReadProcess(ctx context.Context, req ReadProcessRequest) (*client.ProcessOutput, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	out, err := a.ReadProcessOutput(ctx, req.ProcessID, req.Offset, seconds(req.WaitSeconds))
	return out, processError(err)
}

// WriteProcess writes data to a process's stdin, closing it after when
// closeStdin is set.
func (g *Guest) WriteProcess(ctx context.Context, req ProcessRequest, data io.Reader, closeStdin bool) error {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return err
	}
	return processError(a.WriteProcessStdin(ctx, req.ProcessID, data, closeStdin))
}

// SignalProcess sends signal (a name such as TERM or a number; empty
// means TERM) to a process's group.
func (g *Guest) SignalProcess(ctx context.Context, req ProcessRequest, signal string) error {
	if signal == "" {
		signal = "TERM"
	}
	a, err := g.agentFor(ctx, func() error {
		if len(signal) > 16 {
			return errdefs.Invalid("signal %q: give a signal name such as TERM or KILL, or its number", clip(signal))
		}
		return req.Validate()
	})
	if err != nil {
		return err
	}
	return processError(a.SignalProcess(ctx, req.ProcessID, signal))
}

// DeleteProcess kills a process if it still runs and forgets it.
func (g *Guest) DeleteProcess(ctx context.Context, req ProcessRequest) (*client.ProcessInfo, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	info, err := a.DeleteProcess(ctx, req.ProcessID)
	return info, processError(err)
}

// mergeEnv is the sandbox's env under the request's, as NAME=value, sorted.
func mergeEnv(base, over map[string]string) []string {
	all := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		all[k] = v
	}
	for k, v := range over {
		all[k] = v
	}
	env := make([]string, 0, len(all))
	for k, v := range all {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// processError adds the remedy of a missing process to an agent's error.
func processError(err error) error {
	if err != nil && isNotFoundCmd(err) {
		return errdefs.WithRemedy(err, errdefs.OpProcessList)
	}
	return err
}
