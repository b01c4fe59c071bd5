package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestSecureStateDir: a state dir left world-readable by an older volantd
// is tightened: the dir 0700, the database and token 0600, snapshot files
// without group or other bits.
func TestSecureStateDir(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "snapshots", "snap-1")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]os.FileMode{
		filepath.Join(dir, dbFile): 0o600, filepath.Join(dir, dbFile+"-wal"): 0o600, filepath.Join(dir, tokenFile): 0o600,
		filepath.Join(snap, "memory"): 0o600, filepath.Join(snap, "manifest.json"): 0o600, filepath.Join(snap, "run.sh"): 0o700,
	}
	for f, want := range files {
		mode := os.FileMode(0o644)
		if want == 0o700 {
			mode = 0o755
		}
		if err := os.WriteFile(f, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(dir, 0o755)
	if err := secureStateDir(dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	files[dir], files[snap], files[filepath.Dir(snap)] = 0o700, 0o700, 0o700
	for f, want := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), want)
		}
	}
}
