package mcp

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/sandbox"
)

// ProcessStartInput is the input of process_start.
type ProcessStartInput struct {
	SandboxID      string            `json:"sandbox_id" jsonschema:"id of a running sandbox"`
	Cmd            []string          `json:"cmd" jsonschema:"the command as an argv array, e.g. [\"python3\", \"-m\", \"http.server\"]"`
	Env            map[string]string `json:"env,omitempty" jsonschema:"environment variables for this command"`
	Cwd            string            `json:"cwd,omitempty" jsonschema:"absolute working directory; empty means the user's home"`
	User           string            `json:"user,omitempty" jsonschema:"run as this user name or uid; empty means root"`
	Stdin          string            `json:"stdin,omitempty" jsonschema:"text written to stdin at start; stdin stays open for process_write"`
	TimeoutS       int               `json:"timeout_s,omitempty" jsonschema:"kill the process group after this many seconds; 0 means no limit"`
	MaxOutputBytes int               `json:"max_output_bytes,omitempty" jsonschema:"size of the output ring kept for process_read; 0 means 1 MiB"`
}

// ProcessRef names one process in one sandbox.
type ProcessRef struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of the sandbox the process runs in"`
	ProcessID string `json:"process_id" jsonschema:"id returned by process_start"`
}

// ProcessReadInput is the input of process_read.
type ProcessReadInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of the sandbox the process runs in"`
	ProcessID string `json:"process_id" jsonschema:"id returned by process_start"`
	Offset    int64  `json:"offset,omitempty" jsonschema:"read output after this offset: pass next_offset of the previous call; 0 reads all that is kept"`
	WaitS     int    `json:"wait_s,omitempty" jsonschema:"when nothing new is there, wait up to this many seconds (at most 60) for output or the end"`
}

// ProcessOutput is the output of process_read.
type ProcessOutput struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	Offset     int64  `json:"offset" jsonschema:"where this output starts"`
	NextOffset int64  `json:"next_offset" jsonschema:"pass as offset to the next process_read"`
	Dropped    int64  `json:"dropped,omitempty" jsonschema:"bytes lost because they fell out of the output ring before being read"`
	Done       bool   `json:"done" jsonschema:"the process has ended and all its output was read"`
	Running    bool   `json:"running"`
	ExitCode   *int   `json:"exit_code,omitempty" jsonschema:"set once the process has ended"`
	Signal     string `json:"signal,omitempty"`
	TimedOut   bool   `json:"timed_out,omitempty"`
	Error      string `json:"error,omitempty" jsonschema:"why the process could not start, if it could not"`
}

// ProcessWriteInput is the input of process_write.
type ProcessWriteInput struct {
	SandboxID  string `json:"sandbox_id" jsonschema:"id of the sandbox the process runs in"`
	ProcessID  string `json:"process_id" jsonschema:"id returned by process_start"`
	Data       string `json:"data,omitempty" jsonschema:"text to write to the process's stdin (add a trailing newline for line-based programs)"`
	CloseStdin bool   `json:"close_stdin,omitempty" jsonschema:"close stdin after writing (the program sees end of input)"`
}

// ProcessSignalInput is the input of process_signal.
type ProcessSignalInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of the sandbox the process runs in"`
	ProcessID string `json:"process_id" jsonschema:"id returned by process_start"`
	Signal    string `json:"signal,omitempty" jsonschema:"signal name or number sent to the process group: TERM (default), INT, KILL, HUP, ..."`
}

// OKOutput acknowledges a call without other output.
type OKOutput struct {
	OK bool `json:"ok"`
}

const processHint = "the process may have been deleted or the sandbox restarted; start it again with process_start"

func (s *Server) addProcessTools() {
	addTool(s, &sdk.Tool{Name: "process_start", Title: "Start a background process",
		Description: "Start a long-running command in a sandbox without waiting for it. Read its output with process_read, " +
			"feed it input with process_write, stop it with process_signal.", Annotations: openEnded},
		s.processStart)
	addTool(s, &sdk.Tool{Name: "process_read", Title: "Read a process's output",
		Description: "Read a background process's output since offset and whether it has ended (with its exit code). " +
			"Poll with offset=next_offset; wait_s blocks until there is something new.", Annotations: readOnly},
		s.processRead)
	addTool(s, &sdk.Tool{Name: "process_write", Title: "Write to a process's stdin",
		Description: "Write text to a background process's standard input, optionally closing it.",
		Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: ptr(false)}},
		func(ctx context.Context, _ *sdk.CallToolRequest, in ProcessWriteInput) (*sdk.CallToolResult, *OKOutput, error) {
			g, err := s.eng.Guest(ctx, in.SandboxID)
			if err != nil {
				return nil, nil, toolError(err)
			}
			if err := g.WriteProcess(ctx, sandbox.ProcessRequest{ProcessID: in.ProcessID}, strings.NewReader(in.Data), in.CloseStdin); err != nil {
				return nil, nil, agentError(err, processHint)
			}
			return nil, &OKOutput{OK: true}, nil
		})
	addTool(s, &sdk.Tool{Name: "process_signal", Title: "Signal a process",
		Description: "Send a signal (default TERM) to a background process's process group.", Annotations: destructive},
		func(ctx context.Context, _ *sdk.CallToolRequest, in ProcessSignalInput) (*sdk.CallToolResult, *OKOutput, error) {
			g, err := s.eng.Guest(ctx, in.SandboxID)
			if err != nil {
				return nil, nil, toolError(err)
			}
			if err := g.SignalProcess(ctx, sandbox.ProcessRequest{ProcessID: in.ProcessID}, in.Signal); err != nil {
				return nil, nil, agentError(err, processHint)
			}
			return nil, &OKOutput{OK: true}, nil
		})
	addTool(s, &sdk.Tool{Name: "process_delete", Title: "Forget a process",
		Description: "Kill a background process if it still runs and free what the sandbox keeps of it (its output). Returns its final status.",
		Annotations: destructive},
		func(ctx context.Context, _ *sdk.CallToolRequest, in ProcessRef) (*sdk.CallToolResult, *client.ProcessInfo, error) {
			g, err := s.eng.Guest(ctx, in.SandboxID)
			if err != nil {
				return nil, nil, toolError(err)
			}
			info, err := g.DeleteProcess(ctx, sandbox.ProcessRequest{ProcessID: in.ProcessID})
			return nil, info, agentError(err, processHint)
		})
}

func (s *Server) processStart(ctx context.Context, _ *sdk.CallToolRequest, in ProcessStartInput) (*sdk.CallToolResult, *client.ProcessInfo, error) {
	req := sandbox.ExecRequest{Cmd: in.Cmd, Env: in.Env, Cwd: in.Cwd, User: in.User,
		Timeout: sandbox.Seconds(in.TimeoutS), MaxOutputBytes: in.MaxOutputBytes}
	if in.Stdin != "" {
		req.Stdin = []byte(in.Stdin)
	}
	g, err := s.eng.Guest(ctx, in.SandboxID)
	if err != nil {
		return nil, nil, toolError(err)
	}
	info, err := g.StartProcess(ctx, req)
	if err != nil {
		return nil, nil, agentError(err, "check cmd[0] exists in the sandbox (e.g. sandbox_exec [\"which\", cmd0])")
	}
	return nil, info, nil
}

func (s *Server) processRead(ctx context.Context, _ *sdk.CallToolRequest, in ProcessReadInput) (*sdk.CallToolResult, *ProcessOutput, error) {
	g, err := s.eng.Guest(ctx, in.SandboxID)
	if err != nil {
		return nil, nil, toolError(err)
	}
	po, err := g.ReadProcess(ctx, sandbox.ReadProcessRequest{ProcessID: in.ProcessID, Offset: in.Offset, WaitSeconds: in.WaitS})
	if err != nil {
		return nil, nil, agentError(err, processHint)
	}
	out := &ProcessOutput{
		Stdout: text(po.Stdout()), Stderr: text(po.Stderr()),
		Offset: po.Offset, NextOffset: po.NextOffset, Dropped: po.Dropped, Done: po.Done, Running: po.Exit == nil,
	}
	if po.Exit != nil {
		out.ExitCode = &po.Exit.ExitCode
		out.Signal, out.TimedOut, out.Error = po.Exit.Signal, po.Exit.TimedOut, po.Exit.Error
	}
	var b strings.Builder
	switch {
	case po.Exit != nil:
		fmt.Fprintf(&b, "exited: exit_code %d", po.Exit.ExitCode)
		if out.Signal != "" {
			fmt.Fprintf(&b, " (killed by SIG%s)", out.Signal)
		}
		if out.Error != "" {
			fmt.Fprintf(&b, " (%s)", out.Error)
		}
	default:
		b.WriteString("running")
	}
	fmt.Fprintf(&b, "; next_offset %d\n", out.NextOffset)
	if out.Dropped > 0 {
		fmt.Fprintf(&b, "[%d bytes of output were dropped before this read: the output ring is full; read more often or raise max_output_bytes]\n", out.Dropped)
	}
	if out.Stdout != "" {
		b.WriteString("--- stdout ---\n" + out.Stdout + "\n")
	}
	if out.Stderr != "" {
		b.WriteString("--- stderr ---\n" + out.Stderr + "\n")
	}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: b.String()}}}, out, nil
}

// text turns output bytes into a JSON-safe string.
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
