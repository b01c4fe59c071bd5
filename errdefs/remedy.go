package errdefs

import (
	"errors"
	"sort"
)

// Op names an engine operation a caller can run, in the engine's own
// vocabulary. Surfaces render an Op in theirs: REST as a route, MCP as a
// tool name, volar as a command line.
type Op string

// The operations an error's remedy may name. Every surface must know how to
// render each of them (each surface's tests check that it does).
const (
	OpSandboxCreate   Op = "sandbox.create"
	OpSandboxGet      Op = "sandbox.get"
	OpSandboxList     Op = "sandbox.list"
	OpSandboxStart    Op = "sandbox.start"
	OpSandboxStop     Op = "sandbox.stop"
	OpSandboxPause    Op = "sandbox.pause"
	OpSandboxResume   Op = "sandbox.resume"
	OpSandboxDelete   Op = "sandbox.delete"
	OpSandboxSnapshot Op = "sandbox.snapshot"
	OpSandboxFork     Op = "sandbox.fork"
	OpSnapshotList    Op = "snapshot.list"
	OpSnapshotGet     Op = "snapshot.get"
	OpSnapshotDelete  Op = "snapshot.delete"
	OpPluginList      Op = "plugin.list"
	OpPluginGet       Op = "plugin.get"
	OpPluginInstall   Op = "plugin.install"
	OpPluginEnable    Op = "plugin.enable"
	OpPluginDisable   Op = "plugin.disable"
	OpPluginRemove    Op = "plugin.remove"
	OpProcessList     Op = "process.list"
	OpFileList        Op = "file.list"
)

// Ops lists every Op, for the surfaces' completeness tests.
var Ops = []Op{
	OpSandboxCreate, OpSandboxGet, OpSandboxList, OpSandboxStart, OpSandboxStop,
	OpSandboxPause, OpSandboxResume, OpSandboxDelete, OpSandboxSnapshot, OpSandboxFork,
	OpSnapshotList, OpSnapshotGet, OpSnapshotDelete,
	OpPluginList, OpPluginGet, OpPluginInstall, OpPluginEnable, OpPluginDisable, OpPluginRemove,
	OpProcessList, OpFileList,
}

// Remedy is an operation that gets the caller past an error, with its
// arguments by name (for example {"id": "sbx-1"} or {"runtime": "echo"}).
// The engine attaches remedies; REST, MCP and volar render them.
type Remedy struct {
	Op   Op                `json:"op"`
	Args map[string]string `json:"args,omitempty"`
}

// Arg returns the named argument, or "".
func (r Remedy) Arg(name string) string { return r.Args[name] }

// ArgNames returns the remedy's argument names, sorted.
func (r Remedy) ArgNames() []string {
	names := make([]string, 0, len(r.Args))
	for k := range r.Args {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// remedied adds remedies to an error without changing its message or class.
type remedied struct {
	err      error
	remedies []Remedy
}

func (e *remedied) Error() string { return e.err.Error() }

func (e *remedied) Unwrap() error { return e.err }

// WithRemedy returns err with one more remedy: op and its arguments given
// as name, value pairs. The message and the class stay err's. A nil err
// stays nil.
func WithRemedy(err error, op Op, kv ...string) error {
	if err == nil {
		return nil
	}
	r := Remedy{Op: op}
	if len(kv) > 0 {
		r.Args = make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			r.Args[kv[i]] = kv[i+1]
		}
	}
	var prev *remedied
	if errors.As(err, &prev) && prev == err {
		return &remedied{err: prev.err, remedies: append(append([]Remedy(nil), prev.remedies...), r)}
	}
	return &remedied{err: err, remedies: []Remedy{r}}
}

// Remedies returns every remedy attached anywhere in err's chain, the
// outermost first and in the order they were added.
func Remedies(err error) []Remedy {
	var out []Remedy
	for err != nil {
		if r, ok := err.(*remedied); ok {
			out = append(out, r.remedies...)
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				out = append(out, Remedies(e)...)
			}
			return out
		default:
			return out
		}
	}
	return out
}
