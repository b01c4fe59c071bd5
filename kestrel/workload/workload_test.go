package workload_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/proctest"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/workload"
)

var ctx = context.Background()

func sh(script string) []string { return []string{"sh", "-c", script} }

func TestReadiness(t *testing.T) {
	c := newClient(t)
	withHealth := serverSpec(t)
	withHealth.Health = "/healthz"
	tests := []struct {
		name string
		spec client.WorkloadSpec
	}{
		{"health", withHealth},
		{"port", serverSpec(t)},
		{"no-port", client.WorkloadSpec{Command: sh("exec sleep 1000")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := c.StartWorkload(ctx, tt.name, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if st.PID == 0 || st.StartedAt.IsZero() || st.Spec.Restart != client.RestartAlways {
				t.Errorf("start answered %+v, want a pid, a start time and restart filled in", st)
			}
			st, err = c.Workload(ctx, tt.name, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Ready || st.State != client.WorkloadReady || st.LastError != "" {
				t.Errorf("after waiting: %+v, want ready with no error", st)
			}
		})
	}
	waitLogs(t, c, "health", "test server listening on")
	waitLogs(t, c, "health", "test server stderr line")
	// Ready came from the health check's 2xx, not from the port alone.
	logs, err := c.WorkloadLogs(ctx, "health", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logs), "healthz 503\n"); n != notReadyTries {
		t.Errorf("health was answered 503 %d times before ready, want %d; logs:\n%s", n, notReadyTries, logs)
	}
}

func TestNotReadySaysWhy(t *testing.T) {
	c := newClient(t)
	port := freePort(t)
	if _, err := c.StartWorkload(ctx, "deaf", client.WorkloadSpec{Command: sh("exec sleep 1000"), Port: port}); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, c, "deaf", "a readiness error", func(st client.WorkloadStatus) bool { return st.LastError != "" })
	if st.Ready || st.State != client.WorkloadStarting || !strings.Contains(st.LastError, "readiness") {
		t.Errorf("status %+v, want starting, not ready, with a readiness error", st)
	}
}

func TestCrashRestartsWithBackoff(t *testing.T) {
	c := newClient(t)
	start := time.Now()
	if _, err := c.StartWorkload(ctx, "crash", client.WorkloadSpec{Command: sh("echo crashing; exit 3")}); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, c, "crash", "3 restarts", func(st client.WorkloadStatus) bool { return st.Restarts >= 3 })
	// Three restarts wait at least 100+200+400 ms: the backoff grows.
	if elapsed := time.Since(start); elapsed < 700*time.Millisecond {
		t.Errorf("3 restarts took %v, want at least 700ms of backoff", elapsed)
	}
	if st.LastExitCode == nil || *st.LastExitCode != 3 {
		t.Errorf("last_exit_code = %v, want 3", st.LastExitCode)
	}
	logs, err := c.WorkloadLogs(ctx, "crash", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logs), "crashing\n"); n < 3 {
		t.Errorf("logs %q hold %d runs' output, want at least 3", logs, n)
	}
}

func TestEndedForGood(t *testing.T) {
	c := newClient(t)
	tests := []struct {
		name    string
		spec    client.WorkloadSpec
		code    int
		signal  string
		lastErr string
	}{
		{"never", client.WorkloadSpec{Command: sh("exit 3"), Restart: client.RestartNever}, 3, "", ""},
		{"clean-exit", client.WorkloadSpec{Command: sh("exit 0"), Restart: client.RestartOnFailure}, 0, "", ""},
		{"killed", client.WorkloadSpec{Command: sh("kill -KILL $$"), Restart: client.RestartNever}, 128 + 9, "KILL", ""},
		{"missing", client.WorkloadSpec{Command: []string{"/no/such/volant-bin"}, Restart: client.RestartNever}, 127, "", "cannot start: /no/such/volant-bin: command not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.StartWorkload(ctx, tt.name, tt.spec); err != nil {
				t.Fatal(err)
			}
			// Without a port a workload is ready once started, so a wait
			// for readiness may answer before the end: poll instead.
			st := waitFor(t, c, tt.name, "the end", func(st client.WorkloadStatus) bool { return st.State == client.WorkloadExited })
			if st.State != client.WorkloadExited || st.Ready || st.PID != 0 || st.Restarts != 0 {
				t.Errorf("status %+v, want exited, not ready, no pid, no restarts", st)
			}
			if st.LastExitCode == nil || *st.LastExitCode != tt.code || st.LastSignal != tt.signal || st.LastError != tt.lastErr {
				t.Errorf("last exit %v signal %q error %q, want %d %q %q", st.LastExitCode, st.LastSignal, st.LastError, tt.code, tt.signal, tt.lastErr)
			}
		})
	}
}

func TestOnFailureRestartsFailures(t *testing.T) {
	c := newClient(t)
	if _, err := c.StartWorkload(ctx, "fails", client.WorkloadSpec{Command: sh("exit 1"), Restart: client.RestartOnFailure}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "fails", "a restart", func(st client.WorkloadStatus) bool { return st.Restarts >= 1 })
}

func TestMissingBinaryBacksOff(t *testing.T) {
	c := newClient(t)
	start := time.Now()
	if _, err := c.StartWorkload(ctx, "missing", client.WorkloadSpec{Command: []string{"no-such-volant-bin"}}); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, c, "missing", "3 restarts", func(st client.WorkloadStatus) bool { return st.Restarts >= 3 })
	if elapsed := time.Since(start); elapsed < 700*time.Millisecond {
		t.Errorf("3 failed starts took %v, want at least 700ms of backoff", elapsed)
	}
	if !strings.Contains(st.LastError, "no-such-volant-bin: command not found") || st.PID != 0 || st.Ready {
		t.Errorf("status %+v, want no pid and last_error saying the command is not found", st)
	}
}

func TestPutSameSpecKeepsIt(t *testing.T) {
	c := newClient(t)
	spec := client.WorkloadSpec{Command: sh("exec sleep 1000"), Env: map[string]string{"A": "1"}}
	first, err := c.StartWorkload(ctx, "same", spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Restart = client.RestartAlways // the default spelled out is the same spec
	again, err := c.StartWorkload(ctx, "same", spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("second PUT changed the workload (-first +again):\n%s", diff)
	}
}

func TestPutOtherSpecReplaces(t *testing.T) {
	c := newClient(t)
	old, err := c.StartWorkload(ctx, "app", client.WorkloadSpec{Command: sh("sleep 1000 & sleep 1000")})
	if err != nil {
		t.Fatal(err)
	}
	proctest.WaitGroupLive(t, old.PID, 2)
	st, err := c.StartWorkload(ctx, "app", client.WorkloadSpec{Command: sh("exec sleep 1001")})
	if err != nil {
		t.Fatal(err)
	}
	if st.PID == 0 || st.PID == old.PID || st.Restarts != 0 || st.Spec.Command[2] != "exec sleep 1001" {
		t.Errorf("replacement %+v, want the new spec running with a new pid", st)
	}
	proctest.WaitGroupGone(t, old.PID)
	if got := proctest.LiveInGroup(t, st.PID); len(got) != 1 {
		t.Errorf("new group %d has live %v, want its one process", st.PID, got)
	}
}

func TestLogsTail(t *testing.T) {
	c := newClient(t)
	if _, err := c.StartWorkload(ctx, "talk", client.WorkloadSpec{Command: sh("printf 0123; printf 456789 >&2; exec sleep 1000")}); err != nil {
		t.Fatal(err)
	}
	waitLogs(t, c, "talk", "0123456789")
	for _, tt := range []struct {
		tail int
		want string
	}{{0, "0123456789"}, {4, "6789"}, {100, "0123456789"}} {
		got, err := c.WorkloadLogs(ctx, "talk", tt.tail)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("logs tail %d = %q, want %q", tt.tail, got, tt.want)
		}
	}
	resp, err := c.HTTPClient().Get(client.BaseURL + "/v1/workloads/talk/logs?tail=-1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("tail=-1 answered %s, want 400", resp.Status)
	}
}

func TestDeleteKillsGroup(t *testing.T) {
	c := newClient(t)
	st, err := c.StartWorkload(ctx, "tree", client.WorkloadSpec{Command: sh("sleep 1000 & sleep 1000")})
	if err != nil {
		t.Fatal(err)
	}
	proctest.WaitGroupLive(t, st.PID, 2)
	if err := c.StopWorkload(ctx, "tree"); err != nil {
		t.Fatal(err)
	}
	proctest.WaitGroupGone(t, st.PID)
	if _, err := c.Workload(ctx, "tree", 0); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("status after delete: error %v, want not found", err)
	}
}

func TestDeleteKillsWhatIgnoresTerm(t *testing.T) {
	r := reaper.New(false)
	svc, err := workload.New(workload.Config{Reaper: r, StopGrace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(); r.Close() })
	c := serve(t, svc)
	st, err := c.StartWorkload(ctx, "stubborn", client.WorkloadSpec{Command: sh(`trap "" TERM; sleep 1000 & wait`)})
	if err != nil {
		t.Fatal(err)
	}
	proctest.WaitGroupLive(t, st.PID, 2)
	if err := c.StopWorkload(ctx, "stubborn"); err != nil {
		t.Fatal(err)
	}
	proctest.WaitGroupGone(t, st.PID)
}

func TestWaitEndsWhenStopped(t *testing.T) {
	c := newClient(t)
	if _, err := c.StartWorkload(ctx, "deaf", client.WorkloadSpec{Command: sh("exec sleep 1000"), Port: freePort(t)}); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		st, err := c.Workload(ctx, "deaf", client.MaxWorkloadWait)
		if err == nil && (st.State != client.WorkloadStopped || st.Ready) {
			t.Errorf("wait answered %+v, want stopped", st)
		}
		got <- err
	}()
	if err := c.StopWorkload(ctx, "deaf"); err != nil {
		t.Fatal(err)
	}
	// The wait began before the delete (and answers stopped) or after it.
	if err := <-got; err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("wait: %v, want a stopped status or not found", err)
	}
}

func TestWaitEndsWhenExitedForGood(t *testing.T) {
	c := newClient(t)
	spec := client.WorkloadSpec{Command: sh("echo bye; sleep 0.3; exit 4"), Port: freePort(t), Restart: client.RestartNever}
	if _, err := c.StartWorkload(ctx, "brief", spec); err != nil {
		t.Fatal(err)
	}
	st, err := c.Workload(ctx, "brief", client.MaxWorkloadWait)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != client.WorkloadExited || st.Ready || st.LastExitCode == nil || *st.LastExitCode != 4 {
		t.Errorf("wait answered %+v, want exited with code 4", st)
	}
	waitLogs(t, c, "brief", "bye\n")
}

func TestCloseStopsAll(t *testing.T) {
	svc := newService(t)
	c := serve(t, svc)
	var pids []int
	for _, name := range []string{"a", "b"} {
		st, err := c.StartWorkload(ctx, name, client.WorkloadSpec{Command: sh("sleep 1000 & sleep 1000")})
		if err != nil {
			t.Fatal(err)
		}
		proctest.WaitGroupLive(t, st.PID, 2)
		pids = append(pids, st.PID)
	}
	svc.Close()
	for _, pid := range pids {
		proctest.WaitGroupGone(t, pid)
	}
	list, err := c.Workloads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		if st.State != client.WorkloadStopped || st.PID != 0 {
			t.Errorf("after Close: %+v, want stopped", st)
		}
	}
	_, err = c.StartWorkload(ctx, "c", client.WorkloadSpec{Command: sh("true")})
	if e := agentError(t, err); e.Status != http.StatusServiceUnavailable || !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("start after Close: %v (status %d), want 503 unavailable", err, e.Status)
	}
}

func TestList(t *testing.T) {
	c := newClient(t)
	for _, name := range []string{"zeta", "alpha"} {
		if _, err := c.StartWorkload(ctx, name, client.WorkloadSpec{Command: sh("exec sleep 1000")}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.Workloads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range list {
		names = append(names, st.Name)
	}
	if diff := cmp.Diff([]string{"alpha", "zeta"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

func TestInvalid(t *testing.T) {
	c := newClient(t)
	ok := client.WorkloadSpec{Command: sh("true")}
	tests := []struct {
		name string
		wl   string
		spec client.WorkloadSpec
		want string
	}{
		{"empty command", "w", client.WorkloadSpec{}, "command is empty"},
		{"port too big", "w", client.WorkloadSpec{Command: sh("true"), Port: 70000}, "port 70000 is out of range"},
		{"negative port", "w", client.WorkloadSpec{Command: sh("true"), Port: -1}, "port -1 is out of range"},
		{"health without slash", "w", client.WorkloadSpec{Command: sh("true"), Port: 80, Health: "healthz"}, "starts with '/'"},
		{"health without port", "w", client.WorkloadSpec{Command: sh("true"), Health: "/healthz"}, "needs a port"},
		{"unknown restart", "w", client.WorkloadSpec{Command: sh("true"), Restart: "sometimes"}, `restart "sometimes" is not a policy`},
		{"relative cwd", "w", client.WorkloadSpec{Command: sh("true"), Cwd: "srv"}, "give an absolute directory"},
		{"bad env key", "w", client.WorkloadSpec{Command: sh("true"), Env: map[string]string{"A=B": "c"}}, "env key"},
		{"upper-case name", "Web", ok, "is not valid: use 1 to 64 of a-z"},
		{"long name", strings.Repeat("a", 65), ok, "is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.StartWorkload(ctx, tt.wl, tt.spec)
			e := agentError(t, err)
			if e.Status != http.StatusBadRequest || !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(e.Message, tt.want) {
				t.Errorf("error %q (status %d), want 400 saying %q", e.Message, e.Status, tt.want)
			}
		})
	}
	if list, err := c.Workloads(ctx); err != nil || len(list) != 0 {
		t.Errorf("after invalid starts: %v, %v; want no workloads", list, err)
	}
}

func TestNotFound(t *testing.T) {
	c := newClient(t)
	calls := map[string]func() error{
		"status": func() error { _, err := c.Workload(ctx, "ghost", 0); return err },
		"wait":   func() error { _, err := c.Workload(ctx, "ghost", time.Second); return err },
		"logs":   func() error { _, err := c.WorkloadLogs(ctx, "ghost", 0); return err },
		"stop":   func() error { return c.StopWorkload(ctx, "ghost") },
	}
	for name, call := range calls {
		err := call()
		if e := agentError(t, err); e.Status != http.StatusNotFound || !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%s: %v (status %d), want 404", name, err, e.Status)
		}
	}
}
