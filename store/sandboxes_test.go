package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/store"
)

func TestSandboxCRUD(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	created := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	in := store.Sandbox{
		ID: "sb1", Name: "web", Runtime: "python", State: "creating",
		Spec:   json.RawMessage(`{"cpus":2}`),
		Labels: map[string]string{"team": "a", "env": "dev"},
		VMDir:  "/var/lib/volant/vms/sb1", Driver: "qemu",
		IP: "10.88.0.2", MAC: "52:54:00:58:00:02", Tap: "vl-sb1", FromSnapshot: "snap1",
		CreatedAt: created, ExpiresAt: created.Add(time.Hour),
	}
	got, err := s.CreateSandbox(ctx, in)
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	want := in
	want.UpdatedAt, want.LastActiveAt, want.Version = created, created, 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateSandbox returned (-want +got):\n%s", diff)
	}
	read, err := s.GetSandbox(ctx, "sb1")
	if err != nil {
		t.Fatalf("GetSandbox: %v", err)
	}
	if diff := cmp.Diff(want, read); diff != "" {
		t.Errorf("GetSandbox (-want +got):\n%s", diff)
	}
	byName, err := s.GetSandboxByName(ctx, "web")
	if err != nil || byName.ID != "sb1" {
		t.Errorf("GetSandboxByName = %q, %v; want sb1", byName.ID, err)
	}

	read.State, read.Labels, read.ExpiresAt = "running", map[string]string{"team": "b"}, time.Time{}
	upd, err := s.UpdateSandbox(ctx, read)
	if err != nil {
		t.Fatalf("UpdateSandbox: %v", err)
	}
	if upd.Version != 2 {
		t.Errorf("version after update = %d, want 2", upd.Version)
	}
	again, err := s.GetSandbox(ctx, "sb1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(upd, again); diff != "" {
		t.Errorf("GetSandbox after update (-want +got):\n%s", diff)
	}

	// A writer holding the old version loses.
	if _, err := s.UpdateSandbox(ctx, read); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("stale UpdateSandbox error = %v, want ErrConflict", err)
	}

	if err := s.DeleteSandbox(ctx, "sb1"); err != nil {
		t.Fatalf("DeleteSandbox: %v", err)
	}
	if _, err := s.GetSandbox(ctx, "sb1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("GetSandbox after delete error = %v, want ErrNotFound", err)
	}
}

func TestSandboxErrors(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.CreateSandbox(ctx, store.Sandbox{ID: "a", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSandbox(ctx, store.Sandbox{ID: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSandbox(ctx, store.Sandbox{ID: "c"}); err != nil {
		t.Fatalf("second unnamed sandbox: %v", err)
	}
	b, _ := s.GetSandbox(ctx, "b")
	b.Name = "n"
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"duplicate id", second(s.CreateSandbox(ctx, store.Sandbox{ID: "a"})), errdefs.ErrAlreadyExists},
		{"duplicate name", second(s.CreateSandbox(ctx, store.Sandbox{ID: "d", Name: "n"})), errdefs.ErrAlreadyExists},
		{"rename onto taken name", second(s.UpdateSandbox(ctx, b)), errdefs.ErrAlreadyExists},
		{"empty id", second(s.CreateSandbox(ctx, store.Sandbox{})), errdefs.ErrInvalidArgument},
		{"get missing", second(s.GetSandbox(ctx, "zz")), errdefs.ErrNotFound},
		{"get missing name", second(s.GetSandboxByName(ctx, "zz")), errdefs.ErrNotFound},
		{"update missing", second(s.UpdateSandbox(ctx, store.Sandbox{ID: "zz", Version: 1})), errdefs.ErrNotFound},
		{"delete missing", s.DeleteSandbox(ctx, "zz"), errdefs.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("error = %v, want %v", tt.err, tt.want)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }
