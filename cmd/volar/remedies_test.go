package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestEveryOpHasACommand(t *testing.T) {
	for _, op := range errdefs.Ops {
		if _, ok := opCommands[op]; !ok {
			t.Errorf("errdefs.%s (%q) has no volar rendering in opCommands", op, op)
		}
	}
}

func TestRenderRemedy(t *testing.T) {
	tests := []struct {
		r    errdefs.Remedy
		want string
	}{
		{errdefs.Remedy{Op: errdefs.OpSandboxResume, Args: map[string]string{"id": "sbx-1"}}, "volar sandbox resume sbx-1"},
		{errdefs.Remedy{Op: errdefs.OpSandboxDelete}, "volar sandbox rm ID"},
		{errdefs.Remedy{Op: errdefs.OpSandboxList, Args: map[string]string{"runtime": "echo"}}, "volar sandbox ls --runtime echo"},
		{errdefs.Remedy{Op: errdefs.OpSandboxCreate, Args: map[string]string{"from_snapshot": "snap-1"}}, "volar sandbox create --from-snapshot snap-1"},
		{errdefs.Remedy{Op: errdefs.OpPluginEnable, Args: map[string]string{"name": "httpd"}}, "volar plugin enable httpd"},
		{errdefs.Remedy{Op: errdefs.OpSnapshotList}, "volar snapshot ls"},
		{errdefs.Remedy{Op: errdefs.OpFileList, Args: map[string]string{"id": "sb1", "path": "/etc"}}, "volar ls sb1:/etc"},
		{errdefs.Remedy{Op: "sandbox.teleport"}, "sandbox.teleport"},
	}
	for _, tt := range tests {
		if got := renderRemedy(tt.r); got != tt.want {
			t.Errorf("renderRemedy(%v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

// TestErrorPrintsMessageAndCommands plays a server that sends the
// problem document's message and remedies members: volar prints the
// message, not the detail (which renders routes), and the remedies as
// its own commands.
func TestErrorPrintsMessageAndCommands(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"title":"Conflict","status":409,`+
			`"detail":"sandbox sbx-1 is paused; resume it first (POST /v1/sandboxes/sbx-1/resume)",`+
			`"message":"sandbox sbx-1 is paused; resume it first",`+
			`"remedies":[{"op":"sandbox.resume","args":{"id":"sbx-1"}}]}`)
	}))
	defer srv.Close()
	code, _, stderr := volar(t, srv, "", "exec", "sbx-1", "true")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if want := "volar: sandbox sbx-1 is paused; resume it first (volar sandbox resume sbx-1)\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}
