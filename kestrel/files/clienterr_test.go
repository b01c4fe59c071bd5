package files_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/kestrel/client"
)

// TestClientMistakesAre4xx: a name over 255 bytes, a symlink loop or a file
// used as a directory is the caller's to fix, on every route: a 4xx with
// a hint, never the agent's 500 (which the API answers 502 and logs).
func TestClientMistakesAre4xx(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	writeFile(t, file, "x", 0o644)
	long := filepath.Join(dir, strings.Repeat("a", 300))

	paths := []struct {
		name, path, hint string
	}{
		{"long name", long, "255 bytes"},
		{"long name below", filepath.Join(long, "x"), "255 bytes"},
		{"symlink loop", filepath.Join(loop, "x"), "symbolic link loop"},
		{"file as directory", filepath.Join(file, "x"), "not a directory"},
	}
	calls := []struct {
		name string
		call func(p string) error
	}{
		{"read", func(p string) error { _, err := c.ReadFileAll(ctx, p, 1<<20); return err }},
		{"write", func(p string) error {
			_, err := c.WriteFile(ctx, p, strings.NewReader("x"), client.WriteOptions{})
			return err
		}},
		{"stat", func(p string) error { _, err := c.Stat(ctx, p); return err }},
		{"list", func(p string) error { _, err := c.List(ctx, p, client.ListOptions{}); return err }},
		{"mkdir", func(p string) error { _, err := c.Mkdir(ctx, p, nil); return err }},
		{"remove", func(p string) error { return c.Remove(ctx, p, true) }},
		{"download tar", func(p string) error {
			rc, err := c.DownloadTar(ctx, p)
			if err == nil {
				rc.Close()
			}
			return err
		}},
	}
	for _, p := range paths {
		for _, call := range calls {
			t.Run(p.name+"/"+call.name, func(t *testing.T) {
				err := call.call(p.path)
				if err == nil {
					if call.name == "remove" {
						return // removing what cannot exist may succeed
					}
					t.Fatal("no error")
				}
				var ae *client.Error
				if !errors.As(err, &ae) {
					t.Fatalf("error %v (%T), want an agent answer", err, err)
				}
				if ae.Status >= 500 {
					t.Fatalf("status %d %q, want 4xx", ae.Status, ae.Message)
				}
				if ae.Status == http.StatusBadRequest && !strings.Contains(ae.Message, p.hint) {
					t.Errorf("message %q, want a hint containing %q", ae.Message, p.hint)
				}
				if ae.Code == "internal" {
					t.Errorf("error %v: code internal, want the caller's class", err)
				}
			})
		}
	}
}
