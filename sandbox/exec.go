package sandbox

import (
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
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

// DefaultExecTimeout and MaxExecTimeout bound ExecRequest.Timeout.
const (
	DefaultExecTimeout = 60 * time.Second
	MaxExecTimeout     = 24 * time.Hour
	maxStdin           = 16 << 20
)

// Validate reports what is wrong with r.
func (r ExecRequest) Validate() error {
	if len(r.Cmd) == 0 || r.Cmd[0] == "" {
		return errdefs.Invalid("cmd: give the command as a non-empty argv array, e.g. [\"sh\", \"-c\", \"echo hi\"]")
	}
	for i, a := range r.Cmd {
		if strings.ContainsRune(a, 0) {
			return errdefs.Invalid("cmd[%d]: contains a NUL byte", i)
		}
	}
	if r.Cwd != "" && !strings.HasPrefix(r.Cwd, "/") {
		return errdefs.Invalid("cwd %q: must be an absolute path", r.Cwd)
	}
	if r.Timeout < 0 || r.Timeout > MaxExecTimeout {
		return errdefs.Invalid("timeout: must be between 0 (default %s) and %s", DefaultExecTimeout, MaxExecTimeout)
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
}

// OutputFunc receives output as the command produces it; stream is
// "stdout" or "stderr".
type OutputFunc func(stream string, data []byte)
