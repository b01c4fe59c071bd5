package plugins_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/store"
)

func TestCheckHostLimits(t *testing.T) {
	l := plugins.HostLimits{VCPUs: 8, MemoryMiB: 4096}
	tests := []struct {
		name string
		res  *plugins.Resources
		want string // "" means taken
	}{
		{"no resources", nil, ""},
		{"within", &plugins.Resources{VCPUs: 8, MemoryMiB: 4096}, ""},
		{"daemon defaults", &plugins.Resources{}, ""},
		{"too many vcpus", &plugins.Resources{VCPUs: 32}, "resources.vcpus is 32, but sandboxes on this daemon get at most 8 vCPUs"},
		{"too much memory", &plugins.Resources{MemoryMiB: 8192}, "resources.memory_mib is 8192, but sandboxes on this daemon get at most 4096 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := (&plugins.Manifest{Name: "p", Resources: tt.res}).CheckHostLimits(l)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want it taken", err)
			case tt.want != "" && (!errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an invalid argument with %q", err, tt.want)
			}
		})
	}
	if err := (&plugins.Manifest{Resources: &plugins.Resources{VCPUs: 32}}).CheckHostLimits(plugins.HostLimits{}); err != nil {
		t.Errorf("no limits configured: %v", err)
	}
}

// TestInstallRefusesMoreThanTheHostGives: such a plugin would install but
// every create of it would fail; nothing is left behind.
func TestInstallRefusesMoreThanTheHostGives(t *testing.T) {
	root := t.TempDir()
	s, err := store.Open(context.Background(), filepath.Join(root, "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reg, err := plugins.Open(context.Background(), plugins.Config{Store: s, Dir: filepath.Join(root, "plugins"), HostLimits: plugins.HostLimits{VCPUs: 4}})
	if err != nil {
		t.Fatal(err)
	}
	raw := `{"schema_version":1,"name":"big","version":"1","artifacts":[{"path":"/x","content":"eA=="}],"resources":{"vcpus":32}}`
	if _, err := reg.Install(context.Background(), []byte(raw)); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "at most 4 vCPUs") {
		t.Fatalf("install of a 32-vCPU plugin on a 4-vCPU daemon: %v", err)
	}
	if list, err := reg.List(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("after the refusal: %d plugins, %v", len(list), err)
	}
}
