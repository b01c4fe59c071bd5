package rest

import (
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestRemedyRoutes(t *testing.T) {
	for _, op := range errdefs.Ops {
		if _, ok := remedyRoutes[op]; !ok {
			t.Errorf("no route renders remedy %s", op)
		}
	}
	tests := []struct {
		r    errdefs.Remedy
		want string
	}{
		{errdefs.Remedy{Op: errdefs.OpSandboxResume, Args: map[string]string{"id": "sbx-1"}}, "POST /v1/sandboxes/sbx-1/resume"},
		{errdefs.Remedy{Op: errdefs.OpSandboxList, Args: map[string]string{"runtime": "echo"}}, "GET /v1/sandboxes?runtime=echo"},
		{errdefs.Remedy{Op: errdefs.OpPluginEnable, Args: map[string]string{"name": "echo"}}, "POST /v1/plugins/echo/enable"},
		{errdefs.Remedy{Op: errdefs.OpSnapshotList}, "GET /v1/snapshots"},
	}
	for _, tt := range tests {
		if got := renderRemedy(tt.r); got != tt.want {
			t.Errorf("renderRemedy(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestProblemOf(t *testing.T) {
	err := errdefs.WithRemedy(errdefs.Conflict("sandbox sbx-1 is paused; resume it first"), errdefs.OpSandboxResume, "id", "sbx-1")
	p := problemOf(err)
	if p.Status != 409 || p.Title != "Conflict" {
		t.Errorf("status, title = %d, %q", p.Status, p.Title)
	}
	if want := "sandbox sbx-1 is paused; resume it first (POST /v1/sandboxes/sbx-1/resume)"; p.Detail != want {
		t.Errorf("detail = %q, want %q", p.Detail, want)
	}
	if want := "sandbox sbx-1 is paused; resume it first"; p.Message != want {
		t.Errorf("message = %q, want %q", p.Message, want)
	}
	if len(p.Remedies) != 1 || p.Remedies[0].Op != errdefs.OpSandboxResume || p.Remedies[0].Arg("id") != "sbx-1" {
		t.Errorf("remedies = %+v", p.Remedies)
	}
}
