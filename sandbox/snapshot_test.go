package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// execOut runs cmd in sandbox id and returns its trimmed stdout.
func execOut(t *testing.T, m *sandbox.Manager, id string, cmd ...string) string {
	t.Helper()
	res, err := m.Exec(context.Background(), id, sandbox.ExecRequest{Cmd: cmd}, nil)
	if err != nil {
		t.Fatalf("exec %v in %s: %v", cmd, id, err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("exec %v in %s: exit %d: %s", cmd, id, res.ExitCode, res.Stderr)
	}
	return strings.TrimSpace(res.Stdout)
}

// waitWarm waits until the template of spec's shape and its warm pool are
// ready, and returns the template's id.
func waitWarm(tb testing.TB, m *sandbox.Manager, spec sandbox.Spec) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := m.WaitWarm(ctx, spec)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// ticking reports whether /tmp/tick changes in sandbox id.
func ticking(t *testing.T, m *sandbox.Manager, id string) bool {
	t.Helper()
	a := execOut(t, m, id, "cat", "/tmp/tick")
	for range 20 {
		time.Sleep(300 * time.Millisecond)
		if execOut(t, m, id, "cat", "/tmp/tick") != a {
			return true
		}
	}
	return false
}

func TestSnapshotForkAndChain(t *testing.T) {
	env := sandboxtest.New(t, nil)
	m := env.Manager
	ctx := context.Background()

	src, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.Guest(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteFile(ctx, sandbox.WriteFileRequest{Path: "/root/before.txt"}, strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.StartProcess(ctx, sandbox.ExecRequest{Cmd: []string{"sh", "-c", "while true; do date +%s%N > /tmp/tick; sleep 0.2; done"}}); err != nil {
		t.Fatal(err)
	}

	clones, err := m.Fork(ctx, src.ID, sandbox.ForkRequest{Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(clones) != 2 {
		t.Fatalf("fork gave %d clones, want 2", len(clones))
	}
	for _, c := range clones {
		if c.Boot != "restore" || c.FromSnapshot == "" {
			t.Errorf("clone %s: boot %q from %q, want a restore from the fork's snapshot", c.ID, c.Boot, c.FromSnapshot)
		}
		if got := execOut(t, m, c.ID, "cat", "/root/before.txt"); got != "kept" {
			t.Errorf("clone %s: file written before the snapshot reads %q", c.ID, got)
		}
		if got := execOut(t, m, c.ID, "hostname"); got != c.ID {
			t.Errorf("clone %s: hostname %q, want its own id", c.ID, got)
		}
		// /etc/hostname links to the kernel's name: no write, the new name.
		if got := execOut(t, m, c.ID, "cat", "/etc/hostname"); got != c.ID {
			t.Errorf("clone %s: /etc/hostname %q, want its own id", c.ID, got)
		}
		if !ticking(t, m, c.ID) {
			t.Errorf("clone %s: the process started before the snapshot does not run", c.ID)
		}
	}
	// The source keeps running, and clones do not share writes.
	execOut(t, m, clones[0].ID, "sh", "-c", "echo mine > /root/clone0")
	for _, id := range []string{src.ID, clones[1].ID} {
		if got := execOut(t, m, id, "sh", "-c", "cat /root/clone0 2>/dev/null || echo absent"); got != "absent" {
			t.Errorf("%s sees clone 0's write: %q", id, got)
		}
	}
	if !ticking(t, m, src.ID) {
		t.Error("the source's process stopped after the snapshot")
	}

	// The fork's snapshot is in use: it cannot be deleted.
	snap := clones[0].FromSnapshot
	if err := m.DeleteSnapshot(ctx, snap); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("deleting a snapshot in use: %v, want a conflict", err)
	}

	// A chain: snapshot a restored sandbox, restore that, and again.
	cur := clones[0].ID
	for depth := 2; depth <= 3; depth++ {
		s, err := m.Snapshot(ctx, cur)
		if err != nil {
			t.Fatalf("snapshot at depth %d: %v", depth, err)
		}
		next, err := m.Create(ctx, sandbox.Spec{FromSnapshot: s.ID})
		if err != nil {
			t.Fatalf("restore at depth %d: %v", depth, err)
		}
		if got := execOut(t, m, next.ID, "cat", "/root/before.txt", "/root/clone0"); got != "keptmine" {
			t.Errorf("depth %d: files read %q", depth, got)
		}
		execOut(t, m, next.ID, "sh", "-c", "echo "+next.ID+" >> /root/chain")
		cur = next.ID
	}
	if got := execOut(t, m, cur, "sh", "-c", "wc -l < /root/chain"); got != "2" {
		t.Errorf("chain marks: %q lines, want 2", got)
	}
}

func TestSnapshotSurvivesRestart(t *testing.T) {
	env := sandboxtest.New(t, nil)
	ctx := context.Background()
	src, err := env.Manager.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	execOut(t, env.Manager, src.ID, "sh", "-c", "echo persisted > /root/p")
	snap, err := env.Manager.Snapshot(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Manager.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := sandbox.New(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Manager = m2
	got, err := m2.GetSnapshot(ctx, snap.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SandboxID != src.ID {
		t.Fatalf("snapshot after restart: %+v", got)
	}
	clone, err := m2.Create(ctx, sandbox.Spec{FromSnapshot: snap.ID})
	if err != nil {
		t.Fatal(err)
	}
	if out := execOut(t, m2, clone.ID, "cat", "/root/p"); out != "persisted" {
		t.Fatalf("restored after restart reads %q", out)
	}
	if _, err := m2.Create(ctx, sandbox.Spec{FromSnapshot: snap.ID, MemoryMiB: 512}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("restore with another size: %v, want invalid argument", err)
	}
	if _, err := m2.Create(ctx, sandbox.Spec{FromSnapshot: "snap-nope"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("restore of a missing snapshot: %v, want not found", err)
	}
}

func TestTemplateRestoreByDefault(t *testing.T) {
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Templates = true })
	m := env.Manager
	ctx := context.Background()
	waitWarm(t, m, sandbox.Spec{})
	warm, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	cold, err := m.Create(ctx, sandbox.Spec{ColdBoot: true})
	if err != nil {
		t.Fatal(err)
	}
	if warm.Boot != "restore" || cold.Boot != "cold" {
		t.Fatalf("boots: default %q, cold_boot %q; want restore and cold", warm.Boot, cold.Boot)
	}
	if got := execOut(t, m, warm.ID, "hostname"); got != warm.ID {
		t.Fatalf("restored sandbox hostname %q, want %q", got, warm.ID)
	}
	// The template outlives a daemon restart: it is not rebuilt.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := sandbox.New(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Manager = m2
	again, err := m2.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Boot != "restore" {
		t.Fatalf("after a restart the default create booted %q, want a restore from the kept template", again.Boot)
	}
}

func TestForkWithDataDisk(t *testing.T) {
	env := sandboxtest.New(t, nil)
	m := env.Manager
	ctx := context.Background()
	src, err := m.Create(ctx, sandbox.Spec{DiskMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	execOut(t, m, src.ID, "sh", "-c", "echo base > /data/f && sync")
	clones, err := m.Fork(ctx, src.ID, sandbox.ForkRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	clone := clones[0]
	execOut(t, m, clone.ID, "sh", "-c", "echo clone >> /data/f && sync")
	execOut(t, m, src.ID, "sh", "-c", "echo src >> /data/f && sync")
	// Stop and start both: each keeps its own disk, and the snapshot's
	// frozen base is not written.
	for _, id := range []string{src.ID, clone.ID} {
		if _, err := m.Stop(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := execOut(t, m, src.ID, "cat", "/data/f"); got != "base\nsrc" {
		t.Errorf("source disk after stop/start: %q", got)
	}
	if got := execOut(t, m, clone.ID, "cat", "/data/f"); got != "base\nclone" {
		t.Errorf("clone disk after stop/start: %q", got)
	}
	again, err := m.Create(ctx, sandbox.Spec{FromSnapshot: clone.FromSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	if got := execOut(t, m, again.ID, "cat", "/data/f"); got != "base" {
		t.Errorf("a new restore of the snapshot reads %q, want the frozen disk", got)
	}
}

func TestWarmPoolCreates(t *testing.T) {
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Templates, c.WarmPool = true, 1 })
	m := env.Manager
	ctx := context.Background()
	// Wait for the template and its warm guest.
	waitWarm(t, m, sandbox.Spec{})
	var ids []string
	for range 3 {
		sb, err := m.Create(ctx, sandbox.Spec{})
		if err != nil {
			t.Fatal(err)
		}
		if sb.Boot != "restore" {
			t.Errorf("create booted %q, want restore", sb.Boot)
		}
		if got := execOut(t, m, sb.ID, "hostname"); got != sb.ID {
			t.Errorf("hostname %q, want %q", got, sb.ID)
		}
		ids = append(ids, sb.ID)
	}
	// A sandbox made from a pooled guest survives a restart like any other.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := sandbox.New(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Manager = m2
	for _, id := range ids {
		if got := execOut(t, m2, id, "hostname"); got != id {
			t.Errorf("after restart %s answers as %q", id, got)
		}
	}
	for _, id := range ids {
		if err := m2.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(env.StateDir, "vms"))
	if len(ents) != 0 {
		t.Errorf("vm dirs left after deleting everything and closing: %d", len(ents))
	}
	m3, err := sandbox.New(ctx, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	env.Manager = m3
}
