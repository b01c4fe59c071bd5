package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Faults that must lose nothing: volantd killed (SIGKILL) in the middle
// of a snapshot and of a fork, then restarted. Real guests; skipped under
// -short.

// killDuring starts op in the background, waits until started reports
// that it is under way (or op returns), kills the daemon and restarts it.
func killDuring(t *testing.T, d *volantd, op func(ctx context.Context), started func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); defer close(done); op(ctx) }()
	deadline := time.Now().Add(2 * time.Minute)
wait:
	for !started() && time.Now().Before(deadline) {
		select {
		case <-done:
			t.Log("the operation finished before the daemon was killed")
			break wait
		case <-time.After(10 * time.Millisecond):
		}
	}
	d.kill()
	cancel()
	wg.Wait()
	d.start()
}

// snapshotDirs lists the snapshot directories in the state directory.
func snapshotDirs(d *volantd) []string {
	ents, _ := os.ReadDir(filepath.Join(d.stateDir, "snapshots"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// checkConsistent checks a restarted daemon: every sandbox running and
// usable or failed with a reason, one VMM per running sandbox, a snapshot
// directory exactly for each listed snapshot and each listed snapshot
// restorable; then deletes everything and checks nothing is left.
func checkConsistent(t *testing.T, d *volantd) {
	t.Helper()
	ctx := context.Background()
	running := 0
	for _, sb := range d.list(t) {
		switch sb.State {
		case "running":
			running++
			if _, err := d.call(ctx, "POST", "/v1/sandboxes/"+sb.ID+"/exec", map[string]any{"cmd": []string{"true"}}, nil); err != nil {
				t.Errorf("sandbox %s is running but not usable: %v", sb.ID, err)
			}
		case "failed":
			if sb.Reason == "" {
				t.Errorf("sandbox %s failed without a reason", sb.ID)
			}
		default:
			t.Errorf("sandbox %s is %s after the restart; want running or failed", sb.ID, sb.State)
		}
	}
	if got := len(vmmsOf(d.stateDir)); got != running {
		t.Errorf("%d VMMs run for %d running sandboxes", got, running)
	}
	var snaps struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if _, err := d.call(ctx, "GET", "/v1/snapshots", nil, &snaps); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, s := range snaps.Items {
		listed = append(listed, s.ID)
		var sb sandboxJSON
		if _, err := d.call(ctx, "POST", "/v1/sandboxes", map[string]any{"from_snapshot": s.ID}, &sb); err != nil {
			t.Errorf("listed snapshot %s does not restore: %v", s.ID, err)
			continue
		}
		if _, err := d.call(ctx, "POST", "/v1/sandboxes/"+sb.ID+"/exec", map[string]any{"cmd": []string{"true"}}, nil); err != nil {
			t.Errorf("the sandbox restored from %s is not usable: %v", s.ID, err)
		}
	}
	sort.Strings(listed)
	if diff := cmp.Diff(listed, snapshotDirs(d)); diff != "" {
		t.Errorf("snapshot directories differ from the listed snapshots (-listed +dirs):\n%s", diff)
	}
	d.deleteAll()
	if pids := vmmsOf(d.stateDir); len(pids) != 0 {
		t.Errorf("VMMs left after deleting everything: %v", pids)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.stateDir, "vms")); len(ents) != 0 {
		t.Errorf("vm dirs left after deleting everything: %d", len(ents))
	}
}

func TestFaultDaemonKilledDuringSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	d := newVolantd(t)
	d.start()
	var sb sandboxJSON
	if _, err := d.call(context.Background(), "POST", "/v1/sandboxes", map[string]any{"network": "user"}, &sb); err != nil {
		t.Fatal(err)
	}
	killDuring(t, d, func(ctx context.Context) {
		_, _ = d.call(ctx, "POST", "/v1/sandboxes/"+sb.ID+"/snapshot", nil, nil)
	}, func() bool { return len(snapshotDirs(d)) > 0 })
	checkConsistent(t, d)
}

func TestFaultDaemonKilledDuringFork(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	d := newVolantd(t)
	d.start()
	var sb sandboxJSON
	if _, err := d.call(context.Background(), "POST", "/v1/sandboxes", map[string]any{"network": "user"}, &sb); err != nil {
		t.Fatal(err)
	}
	killDuring(t, d, func(ctx context.Context) {
		_, _ = d.call(ctx, "POST", "/v1/sandboxes/"+sb.ID+"/fork", map[string]any{"count": 2}, nil)
	}, func() bool { return len(vmmsOf(d.stateDir)) > 1 }) // a clone is booting
	checkConsistent(t, d)
}
