package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/store"
)

func TestPlugins(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	p, err := s.CreatePlugin(ctx, store.Plugin{Name: "python", Version: "1.0.0", Manifest: json.RawMessage(`{"name":"python"}`)})
	if err != nil {
		t.Fatalf("CreatePlugin: %v", err)
	}
	if _, err := s.CreatePlugin(ctx, store.Plugin{Name: "python"}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("duplicate CreatePlugin error = %v, want ErrAlreadyExists", err)
	}
	p.Enabled, p.Version = true, "1.1.0"
	upd, err := s.UpdatePlugin(ctx, p)
	if err != nil {
		t.Fatalf("UpdatePlugin: %v", err)
	}
	got, err := s.GetPlugin(ctx, "python")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(upd, got); diff != "" {
		t.Errorf("GetPlugin after update (-want +got):\n%s", diff)
	}
	if !got.Enabled || got.InstalledAt != p.InstalledAt {
		t.Errorf("plugin after update = %+v, want enabled with the original install time", got)
	}
	list, err := s.ListPlugins(ctx)
	if err != nil || len(list) != 1 {
		t.Errorf("ListPlugins = %d plugins, %v; want 1", len(list), err)
	}
	if err := s.DeletePlugin(ctx, "python"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"get":    second(s.GetPlugin(ctx, "python")),
		"update": second(s.UpdatePlugin(ctx, store.Plugin{Name: "python"})),
		"delete": s.DeletePlugin(ctx, "python"),
	} {
		if !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%s of a removed plugin error = %v, want ErrNotFound", name, err)
		}
	}
}

func TestSnapshots(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	base, err := s.CreateSnapshot(ctx, store.Snapshot{ID: "base", SandboxID: "sb0", Runtime: "python", Dir: "/s/base",
		Manifest: json.RawMessage(`{"vmm":"qemu"}`), SizeBytes: 1 << 30})
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	got, err := s.GetSnapshot(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(base, got); diff != "" {
		t.Errorf("GetSnapshot (-want +got):\n%s", diff)
	}
	if _, err := s.CreateSnapshot(ctx, store.Snapshot{ID: "child", ParentID: "base"}); err != nil {
		t.Fatalf("CreateSnapshot child: %v", err)
	}
	if _, err := s.CreateSandbox(ctx, store.Sandbox{ID: "sb1", FromSnapshot: "base"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSandbox(ctx, store.Sandbox{ID: "sb2", FromSnapshot: "base"}); err != nil {
		t.Fatal(err)
	}
	children, sandboxes, err := s.SnapshotRefs(ctx, "base")
	if err != nil || children != 1 || sandboxes != 2 {
		t.Errorf("SnapshotRefs(base) = %d, %d, %v; want 1, 2, nil", children, sandboxes, err)
	}
	if err := s.DeleteSnapshot(ctx, "base"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("DeleteSnapshot in use error = %v, want ErrConflict", err)
	}
	list, err := s.ListSnapshots(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("ListSnapshots = %d, %v; want 2", len(list), err)
	}

	tests := []struct {
		name string
		err  error
		want error
	}{
		{"duplicate", second(s.CreateSnapshot(ctx, store.Snapshot{ID: "base"})), errdefs.ErrAlreadyExists},
		{"missing parent", second(s.CreateSnapshot(ctx, store.Snapshot{ID: "orphan", ParentID: "nope"})), errdefs.ErrNotFound},
		{"get missing", second(s.GetSnapshot(ctx, "nope")), errdefs.ErrNotFound},
		{"refs missing", thirdErr(s.SnapshotRefs(ctx, "nope")), errdefs.ErrNotFound},
		{"delete missing", s.DeleteSnapshot(ctx, "nope"), errdefs.ErrNotFound},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, tt.err, tt.want)
		}
	}

	for _, step := range []func() error{
		func() error { return s.DeleteSnapshot(ctx, "child") },
		func() error { return s.DeleteSandbox(ctx, "sb1") },
		func() error { return s.DeleteSandbox(ctx, "sb2") },
		func() error { return s.DeleteSnapshot(ctx, "base") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
}

func thirdErr(_, _ int, err error) error { return err }

func TestTokens(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	sum := sha256.Sum256([]byte("secret"))
	hash := hex.EncodeToString(sum[:])
	if _, err := s.CreateToken(ctx, store.Token{Name: "ci", Hash: "secret", Scope: "read"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("CreateToken with a raw token error = %v, want ErrInvalidArgument", err)
	}
	exp := time.Unix(2000000000, 0).UTC()
	tok, err := s.CreateToken(ctx, store.Token{Name: "ci", Hash: hash, Scope: "read", ExpiresAt: exp})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if tok.Scope != "read" || !tok.ExpiresAt.Equal(exp) {
		t.Errorf("token scope %q, expiry %v; want read, %v", tok.Scope, tok.ExpiresAt, exp)
	}
	if _, err := s.CreateToken(ctx, store.Token{Name: "again", Hash: hash, Scope: "read"}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("duplicate hash error = %v, want ErrAlreadyExists", err)
	}
	got, err := s.TokenByHash(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("TokenByHash (-want +got):\n%s", diff)
	}
	if err := s.TouchToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.TokenByHash(ctx, hash); got.LastUsedAt.IsZero() {
		t.Error("LastUsedAt not set by TouchToken")
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Errorf("second RevokeToken: %v", err)
	}
	// A revoked token is still found, so that it is told it was revoked.
	if got, err := s.TokenByHash(ctx, hash); err != nil || !got.Revoked() {
		t.Errorf("TokenByHash of a revoked token = %+v, %v; want it, revoked", got, err)
	}
	if _, err := s.TokenByHash(ctx, "no such hash"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("TokenByHash of an unknown hash error = %v, want ErrNotFound", err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 1 || !list[0].Revoked() {
		t.Errorf("ListTokens = %+v, %v; want one revoked token", list, err)
	}
	for name, err := range map[string]error{"revoke": s.RevokeToken(ctx, "nope"), "touch": s.TouchToken(ctx, "nope")} {
		if !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%s of a missing token error = %v, want ErrNotFound", name, err)
		}
	}
}

func TestLeases(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.InsertLease(ctx, "p", "10.0.0.2", "sb1", "52:54:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertLease(ctx, "q", "10.0.0.2", "sb9", ""); err != nil {
		t.Errorf("same address in another pool: %v", err)
	}
	for name, err := range map[string]error{
		"same address": s.InsertLease(ctx, "p", "10.0.0.2", "sb2", ""),
		"same owner":   s.InsertLease(ctx, "p", "10.0.0.3", "sb1", ""),
	} {
		if !errors.Is(err, errdefs.ErrAlreadyExists) {
			t.Errorf("%s: error = %v, want ErrAlreadyExists", name, err)
		}
	}
	got, err := s.PoolLeases(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"10.0.0.2": "sb1"}, got); diff != "" {
		t.Errorf("PoolLeases (-want +got):\n%s", diff)
	}
	all, err := s.ListLeases(ctx)
	if err != nil || len(all) != 2 {
		t.Errorf("ListLeases = %d, %v; want 2", len(all), err)
	}
	if err := s.DeleteLease(ctx, "p", "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLease(ctx, "p", "10.0.0.2"); err != nil {
		t.Errorf("deleting a missing lease: %v", err)
	}
}

func TestEventLog(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if seq, err := s.LastEventSeq(ctx); err != nil || seq != 0 {
		t.Errorf("LastEventSeq of an empty log = %d, %v; want 0", seq, err)
	}
	for i := range 5 {
		seq, err := s.AppendEvent(ctx, events.Event{Type: events.SandboxCreated, Data: json.RawMessage(`{}`)})
		if err != nil || seq != int64(i+1) {
			t.Fatalf("AppendEvent = %d, %v; want %d", seq, err, i+1)
		}
	}
	n, err := s.TrimEvents(ctx, 2)
	if err != nil || n != 3 {
		t.Errorf("TrimEvents(2) = %d, %v; want 3 deleted", n, err)
	}
	if _, err := s.TrimEvents(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if seq, err := s.LastEventSeq(ctx); err != nil || seq != 5 {
		t.Errorf("LastEventSeq after trimming everything = %d, %v; want 5", seq, err)
	}
	seq, err := s.AppendEvent(ctx, events.Event{Type: events.SandboxDeleted})
	if err != nil || seq != 6 {
		t.Errorf("AppendEvent after trim = %d, %v; want 6", seq, err)
	}
	evs, err := s.EventsSince(ctx, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Seq != 6 || evs[0].Data != nil {
		t.Errorf("EventsSince = %+v, %v; want only seq 6 with no data", evs, err)
	}
}
