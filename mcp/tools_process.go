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

// ProcessStartInput is the input of process_start: the engine's command
// and the sandbox to start it in.
type ProcessStartInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of a running sandbox"`
	sandbox.ExecCommand
}

// ProcessRef names one process in one sandbox: the engine's request and
// the sandbox.
type ProcessRef struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of the sandbox the process runs in"`
	sandbox.ProcessRequest
}

// ProcessReadInput is the input of process_read: the engine's request and
// the sandbox.
type ProcessReadInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of the sandbox the process runs in"`
	sandbox.ReadProcessRequest
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

// ProcessWriteInput is the input of process_write: the process and the
// text to write (the stream, in MCP's terms).
type ProcessWriteInput struct {
	ProcessRef
	Data       string `json:"data,omitempty" jsonschema:"text to write to the process's stdin (add a trailing newline for line-based programs)"`
	CloseStdin bool   `json:"close_stdin,omitempty" jsonschema:"close stdin after writing (the program sees end of input)"`
}

// ProcessSignalInput is the input of process_signal: the process and the
// signal.
type ProcessSignalInput struct {
	ProcessRef
	Signal string `json:"signal,omitempty" jsonschema:"signal name or number sent to the process group: TERM (default), INT, KILL, HUP, ..."`
}

// OKOutput acknowledges a call without other output.
type OKOutput struct {
	OK bool `json:"ok"`
}

// processStartDocs are the descriptions process_start gives the fields of
// sandbox.ExecCommand where a background process differs from a command
// waited for (the engine's StartProcess: timeout 0 is no limit, stdin
// stays open, the output is a ring).
var processStartDocs = map[string]string{
	"cmd":              `the command as an argv array, e.g. ["python3", "-m", "http.server"]`,
	"cwd":              "absolute working directory; empty means the user's home",
	"stdin":            "text written to stdin at start; stdin stays open for process_write",
	"timeout_s":        "kill the process group after this many seconds; 0 means no limit",
	"max_output_bytes": "size of the output ring kept for process_read; 0 means 1 MiB",
}

const processHint = "the process may have been deleted or the sandbox restarted; start it again with process_start"

func (s *Server) addProcessTools() {
	addTool(s, &sdk.Tool{Name: "process_start", Title: "Start a background process",
		Description: "Start a long-running command in a sandbox without waiting for it. Read its output with process_read, " +
			"feed it input with process_write, stop it with process_signal.", Annotations: openEnded,
		InputSchema: described[ProcessStartInput](processStartDocs)},
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
			if err := g.WriteProcess(ctx, in.ProcessRequest, strings.NewReader(in.Data), in.CloseStdin); err != nil {
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
			if err := g.SignalProcess(ctx, in.ProcessRequest, in.Signal); err != nil {
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
			info, err := g.DeleteProcess(ctx, in.ProcessRequest)
			return nil, info, agentError(err, processHint)
		})
}

func (s *Server) processStart(ctx context.Context, _ *sdk.CallToolRequest, in ProcessStartInput) (*sdk.CallToolResult, *client.ProcessInfo, error) {
	req := in.Request()
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
	po, err := g.ReadProcess(ctx, in.ReadProcessRequest)
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
