package errdefs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWithRemedyKeepsMessageAndClass(t *testing.T) {
	base := Conflict("sandbox sbx-1 is paused; resume it first")
	err := WithRemedy(base, OpSandboxResume, "id", "sbx-1")
	if got, want := err.Error(), base.Error(); got != want {
		t.Errorf("message: got %q, want %q", got, want)
	}
	if !errors.Is(err, ErrConflict) {
		t.Errorf("errors.Is(err, ErrConflict) = false")
	}
	err = WithRemedy(err, OpSandboxDelete, "id", "sbx-1")
	wrapped := fmt.Errorf("starting: %w", err)
	got := Remedies(wrapped)
	want := []Remedy{
		{Op: OpSandboxResume, Args: map[string]string{"id": "sbx-1"}},
		{Op: OpSandboxDelete, Args: map[string]string{"id": "sbx-1"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("remedies (-want +got):\n%s", d)
	}
	if WithRemedy(nil, OpSandboxList) != nil {
		t.Errorf("WithRemedy(nil) is not nil")
	}
	if r := Remedies(errors.New("plain")); r != nil {
		t.Errorf("plain error has remedies %v", r)
	}
}

func TestRemediesThroughJoin(t *testing.T) {
	a := WithRemedy(NotFound("no sandbox x"), OpSandboxList)
	b := WithRemedy(Invalid("bad"), OpSnapshotList)
	got := Remedies(errors.Join(a, b))
	if len(got) != 2 || got[0].Op != OpSandboxList || got[1].Op != OpSnapshotList {
		t.Errorf("got %v", got)
	}
}
