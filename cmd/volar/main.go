// Command volar is the operator CLI of Volant: a scriptable client of the
// REST API that volantd serves.
//
//	volar [--addr URL] [--token TOKEN] [--json] [-q] COMMAND ...
//
// Errors print the engine's message, and the commands it suggests, prefixed
// with "volar: " and exit 1; usage errors exit 2. volar exec exits with the command's exit code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runContext(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const baseUsage = `usage: volar [--addr URL] [--token TOKEN] [--json] [-q] COMMAND [ARGS]

Commands:
  system                         describe the engine and host
  sandbox create [flags]         create a sandbox (-q prints only its id)
  sandbox ls [--state S] [--label K=V]
  sandbox get ID
  sandbox rm ID...               (alias: delete)
  sandbox start|stop|pause|resume|hibernate ID
  sandbox snapshot ID            snapshot a sandbox; prints the snapshot
  sandbox fork ID [--count N]
  exec ID [flags] -- CMD ARGS... run a command; exits with its exit code
  cp LOCAL ID:/path | ID:/path LOCAL
                                 copy files or directories
  cat ID:/path                   print a file
  ls ID:/path [-r]               list a directory
  rm-file ID:/path [-r]          delete a file (or, with -r, a tree)
  logs ID [--tail N] [-f]        the serial console log
  snapshot ls | get ID | rm ID...
  sandbox egress ID [flags]      show or set where a sandbox may connect
  secret put NAME | ls | rm NAME...
                                 secrets sandboxes use without holding them
  token create NAME | ls | revoke ID...
  plugin ls | get NAME | install FILE|- | enable NAME | disable NAME | rm NAME...
                                 runtime plugins: what runs in a sandbox
  image pull REF | import FILE|DIR | ls | get REF | rm REF...
                                 OCI images sandboxes run
  action ID PLUGIN ACTION [JSON|-] [--arg K=V]...
                                 call a plugin's action; prints its JSON answer
  events [--since SEQ] [--type T]...
                                 stream events, one JSON line each
%s
Global flags (accepted before or after the command):
  --addr URL     API address; http(s)://host:port or unix:///path/volantd.sock
                 (env VOLANT_ADDR; default http://127.0.0.1:7777)
  --token TOKEN  API token (env VOLANT_TOKEN; default: the token file of
                 VOLANT_STATE_DIR, /var/lib/volant, or ~/.local/share/volant)
  --json         print the API's JSON as is
  -q             quiet: print only ids

Run 'volar COMMAND -h' for a command's flags.
`

// addedCommand is a top-level command registered by its own file.
type addedCommand struct {
	names []string
	usage string
	run   func(*env, []string) error
}

// added are the commands registered with addCommand.
var added []addedCommand

// addCommand registers a top-level command from the file that implements
// it, in that file's init function: its names (the first is the main
// one), its lines in 'volar -h' (indented like the others) and what runs
// it. A new command group needs nothing else from main.go.
func addCommand(usage string, run func(*env, []string) error, names ...string) {
	added = append(added, addedCommand{names: names, usage: usage, run: run})
}

// topUsage is volar's usage, with the added commands' lines after the
// built-in ones.
func topUsage() string {
	var b strings.Builder
	for _, x := range added {
		b.WriteString(strings.TrimRight(x.usage, "\n") + "\n")
	}
	return fmt.Sprintf(baseUsage, b.String())
}

// run is the whole CLI: it parses args, calls the API and returns the exit
// status. Tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	e.g.defaults()
	fs := flag.NewFlagSet("volar", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, topUsage())
			return 0
		}
		fmt.Fprintf(stderr, "volar: %v\n%s", err, topUsage())
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, topUsage())
		return 2
	}
	name, rest := rest[0], rest[1:]
	cmds := map[string]func(*env, []string) error{
		"system":    cmdSystem,
		"sandbox":   cmdSandbox,
		"sandboxes": cmdSandbox,
		"sb":        cmdSandbox,
		"exec":      cmdExec,
		"cp":        cmdCp,
		"cat":       cmdCat,
		"ls":        cmdLs,
		"rm-file":   cmdRmFile,
		"logs":      cmdLogs,
		"snapshot":  cmdSnapshot,
		"snapshots": cmdSnapshot,
		"secret":    cmdSecret,
		"secrets":   cmdSecret,
		"token":     cmdToken,
		"tokens":    cmdToken,
		"events":    cmdEvents,
		"plugin":    cmdPlugin,
		"plugins":   cmdPlugin,
		"image":     cmdImage,
		"images":    cmdImage,
		"action":    cmdAction,
		"help": func(e *env, _ []string) error {
			fmt.Fprint(e.stdout, topUsage())
			return nil
		},
	}
	for _, x := range added {
		for _, n := range x.names {
			cmds[n] = x.run
		}
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "volar: unknown command %q\n%s", name, topUsage())
		return 2
	}
	return e.exit(cmd(e, rest))
}

// env is what every command gets: I/O, the global flags and, on first
// use, the API client.
type env struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	g              globals
	c              *api
}

// api returns the API client for the global flags.
func (e *env) api() (*api, error) {
	if e.c == nil {
		c, err := newAPI(e.g.addr, e.g.token)
		if err != nil {
			return nil, err
		}
		e.c = c
	}
	return e.c, nil
}

// exitError ends the CLI with a status and, if msg is set, a message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError is a mistake on the command line: it prints the command's
// usage and exits 2.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

// exit turns a command's error into the exit status, printing it.
func (e *env) exit(err error) int {
	var ue *usageError
	var xe *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &xe):
		if xe.msg != "" {
			fmt.Fprintf(e.stderr, "volar: %s\n", xe.msg)
		}
		return xe.code
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintf(e.stderr, "volar: %s\n", ue.msg)
		}
		fmt.Fprint(e.stderr, ue.usage)
		return 2
	case errors.Is(err, flag.ErrHelp):
		return 0
	case e.ctx.Err() != nil && errors.Is(err, context.Canceled):
		// Interrupted: the user knows.
		return 130
	}
	fmt.Fprintf(e.stderr, "volar: %s\n", e.explain(err))
	return 1
}

// globals are the flags every command accepts.
type globals struct {
	addr  string
	token string
	json  bool
	quiet bool
}

func (g *globals) defaults() {
	g.addr = os.Getenv("VOLANT_ADDR")
	if g.addr == "" {
		g.addr = defaultAddr
	}
	g.token = os.Getenv("VOLANT_TOKEN")
}

// register adds the global flags to fs, bound to g, so that they may come
// after the command too.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.addr, "addr", g.addr, "API address: http(s)://host:port or unix:///path/volantd.sock (env VOLANT_ADDR)")
	fs.StringVar(&g.token, "token", g.token, "API token (env VOLANT_TOKEN; default: the state directory's token file)")
	fs.BoolVar(&g.json, "json", g.json, "print the API's JSON as is")
	fs.BoolVar(&g.quiet, "q", g.quiet, "quiet: print only ids")
}

// command is one subcommand's flag set and usage.
type command struct {
	e     *env
	fs    *flag.FlagSet
	usage string
}

// newCommand returns a flag set for a subcommand whose synopsis is
// usage (e.g. "volar sandbox get ID").
func (e *env) newCommand(usage string) *command {
	c := &command{e: e, fs: flag.NewFlagSet(usage, flag.ContinueOnError)}
	c.fs.SetOutput(io.Discard)
	e.g.register(c.fs)
	c.usage = "usage: " + usage + "\n"
	return c
}

// usageText is the synopsis and the command's own flags.
func (c *command) usageText() string {
	var b strings.Builder
	b.WriteString(c.usage)
	global := map[string]bool{"addr": true, "token": true, "json": true, "q": true}
	first := true
	c.fs.VisitAll(func(f *flag.Flag) {
		if global[f.Name] {
			return
		}
		if first {
			b.WriteString("\nFlags:\n")
			first = false
		}
		name, u := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		fmt.Fprintf(&b, "  %s%s", dash, f.Name)
		if name != "" {
			fmt.Fprintf(&b, " %s", name)
		}
		fmt.Fprintf(&b, "\n      %s", u)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "-1" && f.DefValue != "[]" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	b.WriteString("\nGlobal flags: --addr URL, --token TOKEN, --json, -q (see 'volar -h').\n")
	return b.String()
}

// parse parses flags anywhere among args (before "--"), and returns the
// positional arguments; everything after "--" is positional as is.
func (c *command) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, c.parseError(err)
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if i := len(args) - len(rest) - 1; i >= 0 && args[i] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseError reports a flag error, or -h, as the command's usage.
func (c *command) parseError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(c.e.stdout, c.usageText())
		return flag.ErrHelp
	}
	return &usageError{msg: err.Error(), usage: c.usageText()}
}

// fail is a usage error of this command.
func (c *command) fail(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), usage: c.usageText()}
}

// open is how most commands start: parse args, check that there are
// min..max positional arguments, and connect to the API.
func (c *command) open(e *env, args []string, min, max int) ([]string, *api, error) {
	pos, err := c.parse(args)
	if err != nil {
		return nil, nil, err
	}
	if err := c.nargs(pos, min, max); err != nil {
		return nil, nil, err
	}
	api, err := e.api()
	if err != nil {
		return nil, nil, err
	}
	return pos, api, nil
}

// nargs checks the number of positional arguments.
func (c *command) nargs(pos []string, min, max int) error {
	switch {
	case len(pos) < min:
		return c.fail("missing arguments")
	case max >= 0 && len(pos) > max:
		return c.fail("too many arguments: %s", strings.Join(pos[max:], " "))
	}
	return nil
}

// subcommand dispatches "volar GROUP VERB ..." to verbs.
func subcommand(e *env, group string, args []string, verbs map[string]func(*env, []string) error, usage string) error {
	fs := flag.NewFlagSet(group, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, usage)
			return flag.ErrHelp
		}
		return &usageError{msg: err.Error(), usage: usage}
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return &usageError{msg: "missing " + group + " command", usage: usage}
	}
	fn, ok := verbs[rest[0]]
	if !ok {
		return &usageError{msg: fmt.Sprintf("unknown %s command %q", group, rest[0]), usage: usage}
	}
	return fn(e, rest[1:])
}

// kvFlag collects repeated K=V flags.
type kvFlag struct {
	m map[string]string
}

func (f *kvFlag) String() string {
	if f == nil || len(f.m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(f.m))
	for _, k := range sortedKeys(f.m) {
		parts = append(parts, k+"="+f.m[k])
	}
	return strings.Join(parts, ",")
}

func (f *kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: write it as KEY=VALUE", v)
	}
	if f.m == nil {
		f.m = map[string]string{}
	}
	f.m[k] = val
	return nil
}

// listFlag collects a repeated flag.
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ",") }

func (f *listFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}
