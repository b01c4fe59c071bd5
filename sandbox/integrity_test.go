package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestSnapshotSeals(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr string // "" for no error
	}{
		{"untouched", func(*testing.T, string) {}, ""},
		{"memory cut short", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "mem"), 100); err != nil {
				t.Fatal(err)
			}
		}, "file mem is 100 bytes, it was written with"},
		{"device state garbled", func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "state"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("garbage!"), 10); err != nil {
				t.Fatal(err)
			}
		}, "file state does not have the content it was written with"},
		{"device state gone", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "state")); err != nil {
				t.Fatal(err)
			}
		}, "file state is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			big := make([]byte, sealHashMax+1) // sealed by size only
			if err := os.WriteFile(filepath.Join(dir, "mem"), big, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "state"), []byte(strings.Repeat("device state ", 100)), 0o600); err != nil {
				t.Fatal(err)
			}
			seals, err := sealFiles(dir, []string{"mem", "state"})
			if err != nil {
				t.Fatal(err)
			}
			if seals["mem"].SHA256 != "" || seals["state"].SHA256 == "" {
				t.Fatalf("seals %+v: want a digest for the small file only", seals)
			}
			tt.damage(t, dir)
			err = checkSeals("snap-1", dir, seals)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("an untouched snapshot was refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "snapshot snap-1 is damaged") {
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("err class: %v, want invalid", err)
			}
		})
	}
	if err := checkSeals("old", t.TempDir(), nil); err != nil {
		t.Errorf("a snapshot without seals (older daemon) was refused: %v", err)
	}
}
