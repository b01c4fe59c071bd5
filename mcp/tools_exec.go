package mcp

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/sandbox"
)

// ExecInput is the input of sandbox_exec: the engine's exec command and
// the sandbox to run it in.
type ExecInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of a running sandbox"`
	sandbox.ExecCommand
}

// ExecOutput is the output of sandbox_exec.
type ExecOutput struct {
	ExitCode        int    `json:"exit_code" jsonschema:"the command's exit code; 128+n when killed by signal n"`
	Signal          string `json:"signal,omitempty" jsonschema:"name of the signal that killed the command, if any"`
	TimedOut        bool   `json:"timed_out,omitempty" jsonschema:"the command ran past timeout_s and was killed"`
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	StdoutTruncated bool   `json:"stdout_truncated" jsonschema:"stdout went past max_output_bytes; the rest was dropped"`
	StderrTruncated bool   `json:"stderr_truncated" jsonschema:"stderr went past max_output_bytes; the rest was dropped"`
	DurationMS      int64  `json:"duration_ms"`
}

// progressInterval bounds how often sandbox_exec sends progress.
const progressInterval = 250 * time.Millisecond

func (s *Server) addExecTools() {
	addTool(s, &sdk.Tool{Name: "sandbox_exec", Title: "Run a command",
		Description: "Run a command in a running sandbox and wait for it. Returns exit_code, stdout and stderr " +
			"(each capped at max_output_bytes, with a truncation marker). With a progress token, the latest output " +
			"line is sent as progress while it runs. Cancelling the call kills the command. For commands that run " +
			"longer than a few minutes or need input later, use process_start.",
		Annotations: openEnded},
		s.exec)
}

func (s *Server) exec(ctx context.Context, req *sdk.CallToolRequest, in ExecInput) (*sdk.CallToolResult, *ExecOutput, error) {
	xreq := in.Request()
	var out sandbox.OutputFunc
	if tok := req.Params.GetProgressToken(); tok != nil && req.Session != nil {
		p := newProgress(ctx, req.Session, tok)
		defer p.stop()
		out = p.add
	}
	res, err := s.eng.Exec(ctx, in.SandboxID, xreq, out)
	if err != nil {
		return nil, nil, toolError(err)
	}
	o := &ExecOutput{
		ExitCode: res.ExitCode, Signal: res.Signal, TimedOut: res.TimedOut,
		Stdout: res.Stdout, Stderr: res.Stderr,
		StdoutTruncated: res.StdoutTruncated, StderrTruncated: res.StderrTruncated,
		DurationMS: res.DurationMS,
	}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: execText(o, xreq)}}}, o, nil
}

// execText is the text content of an exec result: what an agent reads
// first, with explicit markers for truncation and timeouts.
func execText(o *ExecOutput, req sandbox.ExecRequest) string {
	limit := req.MaxOutputBytes
	if limit == 0 {
		limit = 1 << 20
	}
	var b strings.Builder
	fmt.Fprintf(&b, "exit_code: %d", o.ExitCode)
	if o.Signal != "" {
		fmt.Fprintf(&b, " (killed by SIG%s)", o.Signal)
	}
	b.WriteString("\n")
	if o.TimedOut {
		timeout := req.Timeout
		if timeout == 0 {
			timeout = sandbox.DefaultExecTimeout
		}
		fmt.Fprintf(&b, "[timed out after %s: the process group was killed; raise timeout_s or use process_start]\n", timeout)
	}
	stream := func(name, data string, truncated bool) {
		fmt.Fprintf(&b, "--- %s ---\n", name)
		b.WriteString(data)
		if data != "" && !strings.HasSuffix(data, "\n") {
			b.WriteString("\n")
		}
		if truncated {
			fmt.Fprintf(&b, "[%s truncated: output beyond %d bytes was dropped; redirect it to a file and read it with file_read]\n", name, limit)
		}
	}
	stream("stdout", o.Stdout, o.StdoutTruncated)
	if o.Stderr != "" || o.StderrTruncated {
		stream("stderr", o.Stderr, o.StderrTruncated)
	}
	return b.String()
}

// progress turns exec output into rate-limited progress notifications:
// progress counts output bytes, the message is the latest output line.
type progress struct {
	sess *sdk.ServerSession
	tok  any

	mu    sync.Mutex
	total int
	tail  []byte // the last few KiB of output
	dirty bool

	cancel context.CancelFunc
	done   chan struct{}
}

func newProgress(ctx context.Context, sess *sdk.ServerSession, tok any) *progress {
	ctx, cancel := context.WithCancel(ctx)
	p := &progress{sess: sess, tok: tok, cancel: cancel, done: make(chan struct{})}
	go p.run(ctx)
	return p
}

// add records one output chunk; it is the exec's OutputFunc.
func (p *progress) add(_ string, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total += len(data)
	p.dirty = true
	p.tail = append(p.tail, data...)
	if len(p.tail) > 4096 {
		p.tail = append(p.tail[:0], p.tail[len(p.tail)-4096:]...)
	}
}

func (p *progress) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.flush(ctx)
		}
	}
}

func (p *progress) flush(ctx context.Context) {
	p.mu.Lock()
	if !p.dirty {
		p.mu.Unlock()
		return
	}
	p.dirty = false
	total, msg := p.total, lastLine(p.tail)
	p.mu.Unlock()
	_ = p.sess.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: p.tok, Progress: float64(total), Message: msg})
}

// stop sends what is pending and waits for the notifier to end.
func (p *progress) stop() {
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.flush(ctx)
}

// lastLine returns the last non-empty line of output, for a progress
// message: at most 200 bytes of valid UTF-8.
func lastLine(b []byte) string {
	b = bytes.TrimRight(b, " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	b = bytes.TrimRight(b, "\r")
	if len(b) > 200 {
		b = b[len(b)-200:]
		for len(b) > 0 && !utf8.RuneStart(b[0]) {
			b = b[1:]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
