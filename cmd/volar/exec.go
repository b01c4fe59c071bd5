package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/sandbox"
)

// maxStdin is the most stdin a buffered exec takes.
const maxStdin = 16 << 20

func cmdExec(e *env, args []string) error {
	c := e.newCommand("volar exec ID [flags] [--] CMD [ARGS...]")
	var env kvFlag
	var timeout time.Duration
	var b sandbox.ExecRequest
	var withStdin, stream bool
	c.fs.Var(&env, "env", "environment variable `K=V` for this command (repeatable)")
	c.fs.StringVar(&b.Cwd, "cwd", "", "absolute working `directory` (default /root)")
	c.fs.StringVar(&b.User, "user", "", "run as this user name or uid (default root)")
	c.fs.DurationVar(&timeout, "timeout", 0, "kill the command after this long, e.g. 30s (default 60s; none with --stream)")
	c.fs.BoolVar(&withStdin, "stdin", false, "feed volar's standard input to the command")
	c.fs.BoolVar(&withStdin, "i", false, "short for --stdin")
	c.fs.IntVar(&b.MaxOutputBytes, "max-output", 0, "cap on each buffered stream in `bytes` (default 1 MiB)")
	c.fs.BoolVar(&stream, "stream", false, "stream output as it is produced (over a WebSocket) instead of when the command ends")
	// Flags may come before or after ID; after ID, the first non-flag (or
	// "--") starts the command, so that its own flags stay its own.
	if err := c.fs.Parse(args); err != nil {
		return c.parseError(err)
	}
	rest := c.fs.Args()
	if len(rest) == 0 {
		return c.fail("missing the sandbox ID and the command")
	}
	id := rest[0]
	if err := c.fs.Parse(rest[1:]); err != nil {
		return c.parseError(err)
	}
	b.Cmd = c.fs.Args()
	if len(b.Cmd) == 0 {
		return c.fail("missing the command, e.g. volar exec %s -- sh -c 'echo hi'", id)
	}
	if timeout < 0 {
		return c.fail("--timeout must not be negative")
	}
	if stream && e.g.json {
		return c.fail("--stream and --json exclude each other: --json prints the buffered result")
	}
	b.Env = env.m
	b.Timeout = timeout

	api, err := e.api()
	if err != nil {
		return err
	}
	if stream {
		return execStream(e, api, id, b, withStdin)
	}
	if withStdin {
		in, err := io.ReadAll(io.LimitReader(e.stdin, maxStdin+1))
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
		if len(in) > maxStdin {
			return fmt.Errorf("stdin is over %d MiB: upload large input with 'volar cp' and redirect from the file, or use --stream", maxStdin>>20)
		}
		b.Stdin = in
	}
	ctx, raw := e.rawContext()
	res, err := api.Exec(ctx, id, b)
	if err != nil {
		return err
	}
	if e.g.json {
		printJSON(e.stdout, *raw)
		return exitStatus(res.ExitCode, res.Signal, res.TimedOut, "")
	}
	io.WriteString(e.stdout, res.Stdout)
	io.WriteString(e.stderr, res.Stderr)
	limit := "1 MiB"
	if b.MaxOutputBytes > 0 {
		limit = fmt.Sprintf("%d bytes", b.MaxOutputBytes)
	}
	if res.StdoutTruncated {
		fmt.Fprintf(e.stderr, "volar: stdout was truncated at %s; raise --max-output, use --stream, or write to a file and 'volar cp' it\n", limit)
	}
	if res.StderrTruncated {
		fmt.Fprintf(e.stderr, "volar: stderr was truncated at %s; raise --max-output or use --stream\n", limit)
	}
	return exitStatus(res.ExitCode, res.Signal, res.TimedOut, timeoutText(timeout))
}

func timeoutText(d time.Duration) string {
	if d == 0 {
		return "the default timeout (60s); pass --timeout"
	}
	return d.String()
}

// signals numbers the signals a command is commonly killed by.
var signals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
}

// exitStatus turns a command's end into volar's exit: the exit code, 124
// after a timeout (as timeout(1) does) and 128+N after signal N (as shells
// do).
func exitStatus(code int, signal string, timedOut bool, timeout string) error {
	switch {
	case timedOut:
		msg := ""
		if timeout != "" {
			msg = "the command timed out after " + timeout + " and was killed"
		}
		return &exitError{code: 124, msg: msg}
	case signal != "":
		n, ok := signals[strings.TrimPrefix(strings.ToUpper(signal), "SIG")]
		if !ok {
			return &exitError{code: 255, msg: "the command was killed by signal " + signal}
		}
		return &exitError{code: 128 + n}
	case code == 0:
		return nil
	case code < 0 || code > 255:
		return &exitError{code: 255}
	}
	return &exitError{code: code}
}

// execStream runs the command over the WebSocket route, copying output as
// it comes and, with withStdin, volar's stdin to the command.
func execStream(e *env, api *api, id string, b sandbox.ExecRequest, withStdin bool) error {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	sess, err := api.ExecStream(ctx, id, apiclient.StreamRequest{ExecRequest: b})
	if err != nil {
		return err
	}
	defer sess.Close()
	inDone := make(chan struct{})
	go func() {
		defer close(inDone)
		pumpStdin(ctx, sess, e.stdin, withStdin)
	}()
	defer func() {
		cancel()
		// A read of a terminal cannot be interrupted; the process is
		// about to exit anyway, so only wait when stdin is not read.
		if !withStdin {
			<-inDone
		}
	}()
	for {
		f, err := sess.Recv(ctx)
		if err != nil {
			if e.ctx.Err() != nil {
				return e.ctx.Err()
			}
			return err
		}
		switch f.Type {
		case "stdout", "output":
			e.stdout.Write(f.Data)
		case "stderr":
			e.stderr.Write(f.Data)
		case "exit":
			if f.Error != "" {
				fmt.Fprintf(e.stderr, "volar: %s\n", f.Error)
			}
			return exitStatus(f.ExitCode, f.Signal, f.TimedOut, "the --timeout")
		}
	}
}

// pumpStdin sends stdin to the command, then EOF. Without withStdin it
// sends EOF at once, so that commands reading stdin end.
func pumpStdin(ctx context.Context, sess *apiclient.ExecSession, stdin io.Reader, withStdin bool) {
	if withStdin && stdin != nil {
		buf := make([]byte, 32<<10)
		for {
			n, err := stdin.Read(buf)
			if n > 0 {
				if sess.Stdin(ctx, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
		}
	}
	_ = sess.CloseStdin(ctx)
}
