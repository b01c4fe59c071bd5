package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/errdefs"
)

// commands renders each engine operation an error's remedy may name as
// the volar command line that runs it. Arguments the remedy lacks show as
// placeholders (ID, NAME).
var opCommands = map[errdefs.Op]func(r errdefs.Remedy) string{
	errdefs.OpSandboxCreate: func(r errdefs.Remedy) string {
		return "volar sandbox create" + flags(r, "name", "runtime", "from_snapshot")
	},
	errdefs.OpSandboxGet: idCommand("sandbox get"),
	errdefs.OpSandboxList: func(r errdefs.Remedy) string {
		return "volar sandbox ls" + flags(r, "state", "runtime", "label")
	},
	errdefs.OpSandboxStart:    idCommand("sandbox start"),
	errdefs.OpSandboxStop:     idCommand("sandbox stop"),
	errdefs.OpSandboxPause:    idCommand("sandbox pause"),
	errdefs.OpSandboxResume:   idCommand("sandbox resume"),
	errdefs.OpSandboxDelete:   idCommand("sandbox rm"),
	errdefs.OpSandboxSnapshot: idCommand("sandbox snapshot"),
	errdefs.OpSandboxFork: func(r errdefs.Remedy) string {
		return "volar sandbox fork " + arg(r, "id", "ID") + flags(r, "count")
	},
	errdefs.OpSnapshotList:   func(errdefs.Remedy) string { return "volar snapshot ls" },
	errdefs.OpSnapshotGet:    idCommand("snapshot get"),
	errdefs.OpSnapshotDelete: idCommand("snapshot rm"),
	errdefs.OpPluginList:     func(errdefs.Remedy) string { return "volar plugin ls" },
	errdefs.OpPluginGet:      nameCommand("plugin get"),
	errdefs.OpPluginInstall: func(r errdefs.Remedy) string {
		return "volar plugin install " + arg(r, "file", "FILE")
	},
	errdefs.OpPluginEnable:  nameCommand("plugin enable"),
	errdefs.OpPluginDisable: nameCommand("plugin disable"),
	errdefs.OpPluginRemove:  nameCommand("plugin rm"),
	// volar has no process commands; ps shows the sandbox's processes.
	errdefs.OpProcessList: func(r errdefs.Remedy) string {
		return "volar exec " + arg(r, "id", "ID") + " -- ps -ef"
	},
	errdefs.OpFileList: func(r errdefs.Remedy) string {
		return "volar ls " + arg(r, "id", "ID") + ":" + arg(r, "path", "/PATH")
	},
}

func idCommand(verb string) func(errdefs.Remedy) string {
	return func(r errdefs.Remedy) string { return "volar " + verb + " " + arg(r, "id", "ID") }
}

func nameCommand(verb string) func(errdefs.Remedy) string {
	return func(r errdefs.Remedy) string { return "volar " + verb + " " + arg(r, "name", "NAME") }
}

// arg is the remedy's argument, or placeholder when it has none.
func arg(r errdefs.Remedy, name, placeholder string) string {
	if v := r.Arg(name); v != "" {
		return v
	}
	return placeholder
}

// flags renders the named arguments the remedy has as --flags, the
// arguments' '_' as '-'.
func flags(r errdefs.Remedy, names ...string) string {
	var b strings.Builder
	for _, n := range names {
		if v := r.Arg(n); v != "" {
			fmt.Fprintf(&b, " --%s %s", strings.ReplaceAll(n, "_", "-"), v)
		}
	}
	return b.String()
}

// renderRemedy is the volar command of r; an operation this volar does
// not know (a newer server's) shows as its name.
func renderRemedy(r errdefs.Remedy) string {
	if f, ok := opCommands[r.Op]; ok {
		return f(r)
	}
	return string(r.Op)
}

// explain is the message volar prints for err: the engine's message and
// its remedies as volar commands, the token's source after a 401, and
// what to check when volantd cannot be reached.
func (a *api) explain(err error) string {
	var te *apiclient.TransportError
	if errors.As(err, &te) {
		return fmt.Sprintf("cannot reach volantd at %s: %v; is `volantd serve` running? (set --addr or VOLANT_ADDR)", a.addr, te.Err)
	}
	msg := err.Error()
	if rs := errdefs.Remedies(err); len(rs) > 0 {
		cmds := make([]string, len(rs))
		for i, r := range rs {
			cmds[i] = renderRemedy(r)
		}
		msg += " (" + strings.Join(cmds, "; ") + ")"
	}
	var ae *apiclient.Error
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		msg += " (token " + a.tokenHint + ")"
	}
	return msg
}

// explain is the message of err, explained by the API client if there is
// one.
func (e *env) explain(err error) string {
	if e.c == nil {
		return err.Error()
	}
	return e.c.explain(err)
}
