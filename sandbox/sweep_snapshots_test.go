package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepSnapshotsRemovesOrphans(t *testing.T) {
	m := bareManager(t, Capacity{}, TemplateLimits{})
	kept := addTemplate(t, m, "k", 1, time.Now())
	orphan := m.snapshotDir("snap-orphan")
	if err := os.MkdirAll(orphan, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan, "mem"), []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.sweepSnapshots(context.Background())
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan snapshot dir: %v, want it removed", err)
	}
	if _, err := os.Stat(m.snapshotDir(kept)); err != nil {
		t.Errorf("recorded snapshot dir: %v, want it kept", err)
	}
}
