package kubelet

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// TestEngineWorkloads checks, with a real guest, what the provider needs
// of the engine: a supervised workload started over REST, its status and
// its output, and that the plugin runtime's own workload cannot be
// replaced.
func TestEngineWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest")
	}
	_, vol, _ := newEngine(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	sb, err := vol.CreateSandbox(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	spec := sandbox.WorkloadSpec{Command: []string{"sh", "-c", "echo started; uname -r; exec sleep 100000"}, Restart: "always"}
	if _, err := vol.StartWorkload(ctx, sb.ID, workloadName, spec); err != nil {
		t.Fatal(err)
	}
	st, err := vol.Workload(ctx, sb.ID, workloadName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ready || st.PID == 0 || st.State != "ready" {
		t.Errorf("workload status %+v, want ready with a pid", st)
	}
	// Starting the same spec again leaves it alone.
	again, err := vol.StartWorkload(ctx, sb.ID, workloadName, spec)
	if err != nil || again.PID != st.PID || again.Restarts != 0 {
		t.Errorf("same spec again: %+v, %v; want the same process", again, err)
	}
	var logs []byte
	for range 100 {
		if logs, err = vol.WorkloadLogs(ctx, sb.ID, workloadName, 0); err != nil {
			t.Fatal(err)
		}
		if bytes.Count(logs, []byte("\n")) >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !bytes.HasPrefix(logs, []byte("started\n")) {
		t.Errorf("workload logs %q, want them to start with started", logs)
	}
	list, err := vol.Workloads(ctx, sb.ID)
	if err != nil || len(list) != 1 || list[0].Name != workloadName {
		t.Errorf("workloads %+v, %v; want only %s", list, err, workloadName)
	}
	if _, err := vol.StartWorkload(ctx, sb.ID, "plugin", spec); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("replacing the plugin's workload: %v; want ErrInvalidArgument", err)
	}
	if err := vol.StopWorkload(ctx, sb.ID, workloadName); err != nil {
		t.Fatal(err)
	}
	if _, err := vol.Workload(ctx, sb.ID, workloadName, 0); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("a stopped workload: %v; want ErrNotFound", err)
	}
}
