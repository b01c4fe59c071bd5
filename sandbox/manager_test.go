package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/internal/testguest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

func TestLifecycle(t *testing.T) {
	env := sandboxtest.New(t, nil)
	m := env.Manager
	ctx := context.Background()

	sb, err := m.Create(ctx, sandbox.Spec{Name: "life", Labels: map[string]string{"team": "a"}, Env: map[string]string{"GREETING": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != sandbox.StateRunning || sb.PID == 0 {
		t.Fatalf("after create: state %s pid %d, want running with a pid", sb.State, sb.PID)
	}
	res, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"uname", "-r"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(res.Stdout), testguest.Image(t).KernelRelease; got != want || res.ExitCode != 0 {
		t.Fatalf("uname -r = %q (exit %d), want %q", got, res.ExitCode, want)
	}
	res, err = m.Exec(ctx, "life", sandbox.ExecRequest{Cmd: []string{"sh", "-c", "echo $GREETING $EXTRA"}, Env: map[string]string{"EXTRA": "there"}}, nil)
	if err != nil || strings.TrimSpace(res.Stdout) != "hi there" {
		t.Fatalf("exec by name with env = %+v, %v; want \"hi there\"", res, err)
	}

	g, err := m.Guest(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteFile(ctx, sandbox.WriteFileRequest{Path: "/root/note.txt", Mode: "0600"}, strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	rc, err := g.ReadFile(ctx, sandbox.ReadFileRequest{Path: "/root/note.txt"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != "hello" {
		t.Fatalf("read back %q, %v", data, err)
	}

	if sb, err = m.Pause(ctx, sb.ID); err != nil || sb.State != sandbox.StatePaused {
		t.Fatalf("pause: %v, %v", sb, err)
	}
	if _, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"true"}}, nil); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("exec while paused: %v, want a conflict that says to resume", err)
	}
	if sb, err = m.Resume(ctx, sb.ID); err != nil || sb.State != sandbox.StateRunning {
		t.Fatalf("resume: %v, %v", sb, err)
	}
	if sb, err = m.Stop(ctx, sb.ID); err != nil || sb.State != sandbox.StateStopped {
		t.Fatalf("stop: %v, %v", sb, err)
	}
	if sb, err = m.Start(ctx, sb.ID); err != nil || sb.State != sandbox.StateRunning {
		t.Fatalf("start: %v, %v", sb, err)
	}
	if res, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"true"}}, nil); err != nil || res.ExitCode != 0 {
		t.Fatalf("exec after restart: %+v, %v", res, err)
	}
	pid := sb.PID
	if err := m.Delete(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, sb.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("get after delete: %v, want not found", err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("VMM pid %d still alive after delete", pid)
	}
	if _, err := os.Stat(filepath.Join(env.StateDir, "vms", sb.ID)); !os.IsNotExist(err) {
		t.Fatalf("vm dir left behind: %v", err)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Budget = sandbox.Capacity{VCPUs: 2, MemoryMiB: 1024} })
	ctx := context.Background()
	cases := []struct {
		name string
		spec sandbox.Spec
		want error
	}{
		{"bad name", sandbox.Spec{Name: "Bad_Name"}, errdefs.ErrInvalidArgument},
		{"bad network", sandbox.Spec{Network: "wifi"}, errdefs.ErrInvalidArgument},
		{"unknown runtime", sandbox.Spec{Runtime: "python"}, errdefs.ErrInvalidArgument},
		{"bridge without root net", sandbox.Spec{Network: sandbox.NetworkBridge}, errdefs.ErrInvalidArgument},
		{"too much memory", sandbox.Spec{MemoryMiB: 4096}, errdefs.ErrResourceExhausted},
		{"too many cpus", sandbox.Spec{VCPUs: 3}, errdefs.ErrResourceExhausted},
		{"bad env", sandbox.Spec{Env: map[string]string{"1X": "y"}}, errdefs.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Manager.Create(ctx, tc.spec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Create(%+v) = %v, want %v", tc.spec, err, tc.want)
			}
		})
	}
	page, err := env.Manager.List(ctx, sandbox.ListOptions{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("after refused creates: %d sandboxes, %v; want none", len(page.Items), err)
	}
}

func TestVMMDeathFailsSandbox(t *testing.T) {
	env := sandboxtest.New(t, nil)
	ctx := context.Background()
	evs, stop := env.Bus.Subscribe(ctx, -1, events.Filter{Types: []string{events.SandboxFailed}})
	defer stop()
	sb, err := env.Manager.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(sb.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-evs:
		if e.SandboxID != sb.ID {
			t.Fatalf("failed event for %s, want %s", e.SandboxID, sb.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no sandbox.failed event after the VMM was killed")
	}
	got, err := env.Manager.Get(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != sandbox.StateFailed || !strings.Contains(got.Reason, "exited unexpectedly") {
		t.Fatalf("after kill: state %s reason %q", got.State, got.Reason)
	}
	if _, err := os.Stat(filepath.Join(env.StateDir, "vms", sb.ID)); !os.IsNotExist(err) {
		t.Fatalf("vm dir left behind: %v", err)
	}
	log, _, err := env.Manager.ConsoleLog(ctx, sb.ID, 0)
	if err != nil || len(log) == 0 {
		t.Fatalf("console of failed sandbox: %d bytes, %v; want it kept", len(log), err)
	}
	if err := env.Manager.Delete(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRestartAdoptsRunningSandboxes(t *testing.T) {
	env := sandboxtest.New(t, nil)
	ctx := context.Background()
	alive, err := env.Manager.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := env.Manager.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Manager.Exec(ctx, alive.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", "echo before > /root/mark"}}, nil); err != nil {
		t.Fatal(err)
	}
	// The daemon goes away without stopping its VMs; one VM dies meanwhile.
	if err := env.Manager.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(doomed.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, doomed.PID)

	m2, err := sandbox.New(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Manager = m2
	res, err := m2.Exec(ctx, alive.ID, sandbox.ExecRequest{Cmd: []string{"cat", "/root/mark"}}, nil)
	if err != nil || strings.TrimSpace(res.Stdout) != "before" {
		t.Fatalf("exec in adopted sandbox: %+v, %v", res, err)
	}
	got, err := m2.Get(ctx, doomed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != sandbox.StateFailed || got.Reason == "" {
		t.Fatalf("dead sandbox after restart: state %s reason %q, want failed with a reason", got.State, got.Reason)
	}
}

func TestTTLDeletes(t *testing.T) {
	env := sandboxtest.New(t, nil)
	ctx := context.Background()
	sb, err := env.Manager.Create(ctx, sandbox.Spec{TTLSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := env.Manager.Get(ctx, sb.ID); errors.Is(err, errdefs.ErrNotFound) {
			waitGone(t, sb.PID)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("sandbox with ttl_s=1 still exists after a minute")
}

func TestExecTimeoutAndStreaming(t *testing.T) {
	env := sandboxtest.New(t, nil)
	ctx := context.Background()
	sb, err := env.Manager.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	var streamed bytes.Buffer
	res, err := env.Manager.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", "echo one; echo two >&2; echo three"}},
		func(stream string, b []byte) {
			if stream == "stdout" {
				streamed.Write(b)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if streamed.String() != "one\nthree\n" || res.Stderr != "two\n" {
		t.Fatalf("streamed stdout %q, stderr %q", streamed.String(), res.Stderr)
	}
	res, err = env.Manager.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", "sleep 100 & sleep 100"}, Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut {
		t.Fatalf("exec past its timeout: %+v, want timed_out", res)
	}
	res, err = env.Manager.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", "ps | grep -c '[s]leep 100' || true"}}, nil)
	if err != nil || strings.TrimSpace(res.Stdout) != "0" {
		t.Fatalf("sleeps left after the timeout: %q, %v", res.Stdout, err)
	}
}

// waitGone waits until pid has exited.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 300; i++ {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// A zombie (state Z) has exited; only its parent has not reaped it.
		if err != nil || bytes.Contains(stat, []byte(") Z ")) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pid %d still alive", pid)
}

func TestDataDiskSurvivesStopStart(t *testing.T) {
	env := sandboxtest.New(t, nil)
	m := env.Manager
	ctx := context.Background()
	sb, err := m.Create(ctx, sandbox.Spec{DiskMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", "grep ' /data ' /proc/mounts && echo keep > /data/f && sync || { cat /proc/cmdline; ls -l /dev/vd*; dmesg | tail -5; cat /proc/filesystems | grep ext; exit 1; }"}}, nil)
	if err != nil || res.ExitCode != 0 {
		log, _, _ := m.ConsoleLog(ctx, sb.ID, 0)
		t.Fatalf("using /data: %+v, %v\nconsole:\n%s", res, err, log)
	}
	if _, err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	res, err = m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"cat", "/data/f"}}, nil)
	if err != nil || res.Stdout != "keep\n" {
		t.Fatalf("after stop and start /data/f = %+v, %v", res, err)
	}
	if err := m.Delete(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(env.StateDir, "disks", sb.ID)); !os.IsNotExist(err) {
		t.Fatalf("data disk left after delete: %v", err)
	}
}

func TestIdleTimeoutHibernates(t *testing.T) {
	env := sandboxtest.New(t, nil)
	ctx := context.Background()
	sb, err := env.Manager.Create(ctx, sandbox.Spec{IdleTimeoutSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		got, err := env.Manager.Get(ctx, sb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == sandbox.StateHibernated || got.State == sandbox.StateStopped {
			waitGone(t, sb.PID)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("sandbox with idle_timeout_s=1 still not hibernated after a minute")
}
