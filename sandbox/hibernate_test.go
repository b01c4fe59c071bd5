package sandbox_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// hibernate hibernates id and checks that its VMM is gone.
func hibernate(t *testing.T, m *sandbox.Manager, id string) {
	t.Helper()
	before, err := m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := m.Hibernate(context.Background(), id)
	if err != nil {
		t.Fatalf("hibernate %s: %v", id, err)
	}
	if sb.State != sandbox.StateHibernated || sb.PID != 0 {
		t.Fatalf("after hibernate: state %s pid %d; want hibernated without a VMM", sb.State, sb.PID)
	}
	if before.PID > 0 {
		waitGone(t, before.PID)
	}
	if sb.IP != before.IP || sb.MAC != before.MAC {
		t.Fatalf("hibernate changed the identity: ip %s→%s mac %s→%s", before.IP, sb.IP, before.MAC, sb.MAC)
	}
}

// TestHibernateWakes boots one guest and walks hibernation through: an exec
// wakes it with its files and running processes, two racing requests wake
// it once, a file read wakes it, a restart keeps it hibernated, and delete
// frees its snapshot.
func TestHibernateWakes(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest")
	}
	env := sandboxtest.New(t, nil)
	ctx := context.Background()
	m := env.Manager
	sb, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	execOut(t, m, sb.ID, "sh", "-c", "echo kept > /root/f")
	g, err := m.Guest(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := g.StartProcess(ctx, sandbox.ExecRequest{Cmd: []string{"sleep", "100000"}})
	if err != nil {
		t.Fatal(err)
	}

	hibernate(t, m, sb.ID)
	if _, err := os.Stat(filepath.Join(env.StateDir, "hibernated", sb.ID)); err != nil {
		t.Fatalf("no hibernation snapshot: %v", err)
	}

	// Two racing execs: both answer, the sandbox wakes once.
	evs, stop := env.Bus.Subscribe(ctx, -1, events.Filter{Types: []string{events.SandboxRunning, events.SandboxHibernated}})
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", fmt.Sprintf("cat /root/f; kill -0 %d && echo alive", proc.PID)}}, nil)
			if err == nil {
				outs[i] = res.Stdout
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || outs[i] != "kept\nalive\n" {
			t.Fatalf("exec %d after hibernate = %q, %v; want the file and the process as they were", i, outs[i], errs[i])
		}
	}
	// The next hibernation's event marks the end of the wakes to count.
	hibernate(t, m, sb.ID)
	// A diskless sandbox hibernated again keeps only its latest snapshot.
	if ents, err := os.ReadDir(filepath.Join(env.StateDir, "hibernated", sb.ID)); err != nil || len(ents) != 1 {
		t.Errorf("after a second hibernation: %d snapshots (%v); want only the latest", len(ents), err)
	}
	wakes := 0
	for e := range evs {
		if e.SandboxID != sb.ID {
			continue
		}
		if e.Type == events.SandboxHibernated {
			break
		}
		wakes++
	}
	stop()
	if wakes != 1 {
		t.Fatalf("two racing requests woke the sandbox %d times; want once", wakes)
	}

	// A file read wakes it too.
	g, err = m.Guest(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := g.ReadFile(ctx, sandbox.ReadFileRequest{Path: "/root/f"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	_ = rc.Close()
	if string(b) != "kept\n" {
		t.Fatalf("file read after a second hibernate = %q", b)
	}

	// A restart keeps a hibernated sandbox, and it still wakes.
	hibernate(t, m, sb.ID)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := sandbox.New(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Manager = m2
	got, err := m2.Get(ctx, sb.ID)
	if err != nil || got.State != sandbox.StateHibernated {
		t.Fatalf("after restart: %+v, %v; want hibernated", got, err)
	}
	if out := execOut(t, m2, sb.ID, "cat", "/root/f"); out != "kept" {
		t.Fatalf("exec after restart reads %q", out)
	}

	// Delete of a hibernated sandbox frees its snapshot.
	hibernate(t, m2, sb.ID)
	if err := m2.Delete(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(env.StateDir, "hibernated", sb.ID)); !os.IsNotExist(err) {
		t.Fatalf("hibernation snapshot left after delete: %v", err)
	}
}
