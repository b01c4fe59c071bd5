package mcp

import (
	"fmt"
	"testing"

	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// TestHibernatedWakesOnTools: MCP tools wake a hibernated sandbox (a real
// guest) within the call: sandbox_exec finds its file and its running
// process as they were, and file_read after a second hibernation reads
// the file.
func TestHibernatedWakesOnTools(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping guest boots")
	}
	env := sandboxtest.New(t, nil)
	_, cs := connect(t, env.Manager, nil, nil)
	id := ok[map[string]any](t, cs, "sandbox_create", map[string]any{})["id"].(string)
	ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "echo kept > /root/f"}})
	proc := ok[map[string]any](t, cs, "process_start", map[string]any{"sandbox_id": id, "cmd": []string{"sleep", "100000"}})
	pid, _ := proc["pid"].(float64)
	if pid == 0 {
		t.Fatalf("process_start answered %v, want a pid", proc)
	}

	if st := ok[map[string]any](t, cs, "sandbox_hibernate", map[string]any{"sandbox_id": id})["state"]; st != "hibernated" {
		t.Fatalf("sandbox_hibernate: state %v", st)
	}
	out := ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id,
		"cmd": []string{"sh", "-c", fmt.Sprintf("cat /root/f; kill -0 %d && echo alive", int(pid))}})
	if out.Stdout != "kept\nalive\n" {
		t.Fatalf("sandbox_exec after hibernate = %+v; want the file and the process as they were", out)
	}

	ok[map[string]any](t, cs, "sandbox_hibernate", map[string]any{"sandbox_id": id})
	if got := ok[FileReadOutput](t, cs, "file_read", map[string]any{"sandbox_id": id, "path": "/root/f"}); got.Content != "kept\n" {
		t.Fatalf("file_read after hibernate = %+v", got)
	}
}
