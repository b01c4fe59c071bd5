package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/volant-sh/volant/store"
)

// open opens a fresh store in a temporary directory, closed at cleanup.
func open(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "volant.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenTwiceAppliesMigrationsOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "volant.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	if _, err := s.CreateSandbox(ctx, store.Sandbox{ID: "sb1"}); err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s, err = store.Open(ctx, path)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer s.Close()
	if _, err := s.GetSandbox(ctx, "sb1"); err != nil {
		t.Errorf("GetSandbox after reopen: %v", err)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := store.Open(context.Background(), ""); err == nil {
		t.Fatal("Open(\"\") succeeded, want an error")
	}
}

// TestConcurrentWriters checks that writers racing each other and readers
// never see SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("sb-%d-%d", w, i)
				sb, err := s.CreateSandbox(ctx, store.Sandbox{ID: id, Labels: map[string]string{"w": fmt.Sprint(w)}})
				if err != nil {
					errs <- err
					continue
				}
				sb.State = "running"
				if _, err := s.UpdateSandbox(ctx, sb); err != nil {
					errs <- err
				}
				if _, _, err := s.ListSandboxes(ctx, store.SandboxFilter{Limit: 10}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, _, err := s.ListSandboxes(ctx, store.SandboxFilter{States: []string{"running"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(all), writers*each; got != want {
		t.Errorf("running sandboxes = %d, want %d", got, want)
	}
}

// TestDatabaseMode: the database and its WAL are 0600, also when an older
// volantd left them world-readable.
func TestDatabaseMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "volant.db")
	s := openPath(t, path)
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openPath(t, path)
	defer s.Close()
	for _, f := range []string{path, path + "-wal"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(f), st.Mode().Perm())
		}
	}
}

func openPath(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
