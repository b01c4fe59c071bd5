package mcp

import (
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// remedyTools renders each engine operation a remedy may name as the tool
// that runs it, or, for operations only the operator can run (no tool
// exists for them), as what to ask the operator for.
var remedyTools = map[errdefs.Op]string{
	errdefs.OpSandboxCreate:   "sandbox_create",
	errdefs.OpSandboxGet:      "sandbox_get",
	errdefs.OpSandboxList:     "sandbox_list",
	errdefs.OpSandboxStart:    "sandbox_start",
	errdefs.OpSandboxStop:     "sandbox_stop",
	errdefs.OpSandboxPause:    "sandbox_pause",
	errdefs.OpSandboxResume:   "sandbox_resume",
	errdefs.OpSandboxDelete:   "sandbox_delete",
	errdefs.OpSandboxSnapshot: "sandbox_snapshot",
	errdefs.OpSandboxFork:     "sandbox_fork",
	errdefs.OpSnapshotList:    "snapshot_list",
	errdefs.OpSnapshotGet:     "snapshot_list",
	errdefs.OpSnapshotDelete:  "snapshot_delete",
	errdefs.OpPluginList:      "plugin_list",
	errdefs.OpPluginGet:       "plugin_list",
	errdefs.OpPluginInstall:   "ask the operator to install the plugin",
	errdefs.OpPluginEnable:    "ask the operator to enable the plugin",
	errdefs.OpPluginDisable:   "ask the operator to disable the plugin",
	errdefs.OpPluginRemove:    "ask the operator to remove the plugin",
	errdefs.OpProcessList:     "process_read",
	errdefs.OpFileList:        "file_list",
}

// renderRemedy names the tool of one remedy; its arguments are left out,
// as the agent has them at hand (the message names the sandbox or plugin).
func renderRemedy(r errdefs.Remedy) string {
	if t, ok := remedyTools[r.Op]; ok {
		return t
	}
	return string(r.Op)
}

// withRemedies is msg followed by the remedies' tools in parentheses:
// "sandbox sbx-1 is paused; resume it first (sandbox_resume)".
func withRemedies(msg string, rs []errdefs.Remedy) string {
	var parts []string
	for _, r := range rs {
		t := renderRemedy(r)
		if !contains(parts, t) {
			parts = append(parts, t)
		}
	}
	if len(parts) == 0 {
		return msg
	}
	return msg + " (" + strings.Join(parts, "; ") + ")"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
