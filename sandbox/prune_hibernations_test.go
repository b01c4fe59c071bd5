package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/store"
)

// TestSweepPrunesOlderHibernations: recovery keeps a diskless sandbox's
// latest readable hibernation only (older ones and a cut-short one go),
// keeps every one of a sandbox with a data disk (its disks chain onto them),
// and removes those of a sandbox that is gone.
func TestSweepPrunesOlderHibernations(t *testing.T) {
	m := bareManager(t, Capacity{}, TemplateLimits{})
	diskless := store.Sandbox{ID: "sbx-plain"}
	setSpec(&diskless, recordSpec{Spec: Spec{}})
	disked := store.Sandbox{ID: "sbx-disk"}
	setSpec(&disked, recordSpec{Spec: Spec{DiskMiB: 64}})
	mk := func(id, name string, manifest bool) {
		t.Helper()
		dir := filepath.Join(m.hibernateDir(id), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if manifest {
			if err := writeManifest(dir, Manifest{Version: ManifestVersion, ID: "hibernation-" + id, SandboxID: id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range []string{diskless.ID, disked.ID, "sbx-gone"} {
		mk(id, "00000000000000000001", true)
		mk(id, "00000000000000000002", true)
		mk(id, "00000000000000000003", false) // a hibernation cut short
	}
	m.sweepHibernations(context.Background(), []store.Sandbox{diskless, disked})
	left := func(id string) []string {
		entries, _ := os.ReadDir(m.hibernateDir(id))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	for _, tt := range []struct {
		id   string
		want []string
	}{
		{diskless.ID, []string{"00000000000000000002"}},
		{disked.ID, []string{"00000000000000000001", "00000000000000000002", "00000000000000000003"}},
		{"sbx-gone", nil},
	} {
		if diff := cmp.Diff(tt.want, left(tt.id)); diff != "" {
			t.Errorf("%s: hibernations left (-want +got):\n%s", tt.id, diff)
		}
	}
}
