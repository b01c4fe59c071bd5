package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// capsDriver is a driver that only has capabilities: enough for the
// engine's decisions that depend on them, with no VM.
type capsDriver struct {
	name string
	caps hypervisor.Capabilities
}

func (d capsDriver) Name() string                          { return d.name }
func (d capsDriver) Capabilities() hypervisor.Capabilities { return d.caps }
func (d capsDriver) Version() string                       { return d.name + "-1.0" }
func (d capsDriver) Attach(context.Context, string) (hypervisor.VM, error) {
	return nil, errdefs.NotFound("no vm")
}
func (d capsDriver) Boot(context.Context, hypervisor.Config) (hypervisor.VM, error) {
	return nil, errdefs.Unavailable("capsDriver boots nothing")
}

var (
	withUserNet = capsDriver{name: "a", caps: hypervisor.Capabilities{UserNet: true, MemoryFile: true, DiskFormats: []string{"qcow2", "raw"},
		UserNetAddr: hypervisor.UserNetAddr{IP: "10.9.0.5/24", Gateway: "10.9.0.1"}}}
	noUserNet = capsDriver{name: "b", caps: hypervisor.Capabilities{TapNet: true, DiskFormats: []string{"raw"}}}
)

func TestDefaultNetworkFollowsTheDriver(t *testing.T) {
	tests := []struct {
		d      hypervisor.Driver
		bridge bool
		want   NetworkMode
	}{
		{withUserNet, true, NetworkBridge},
		{withUserNet, false, NetworkUser},
		{noUserNet, true, NetworkBridge},
		{noUserNet, false, NetworkNone}, // never user mode on a VMM without it
	}
	for _, tt := range tests {
		if got := defaultNetwork(tt.d, tt.bridge); got != tt.want {
			t.Errorf("defaultNetwork(%s, bridge %v): got %s, want %s", tt.d.Name(), tt.bridge, got, tt.want)
		}
	}
}

func TestUserNetRefusedWithoutTheCapability(t *testing.T) {
	m := &Manager{cfg: Config{Driver: noUserNet}}
	err := m.checkUserNet(NetworkUser)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), `use network "none"`) {
		t.Errorf("user net on a driver without it: got %v, want an invalid argument that says to use none", err)
	}
	for _, mode := range []NetworkMode{NetworkNone, NetworkBridge} {
		if err := m.checkUserNet(mode); err != nil {
			t.Errorf("network %s: %v", mode, err)
		}
	}
	if err := (&Manager{cfg: Config{Driver: withUserNet}}).checkUserNet(NetworkUser); err != nil {
		t.Errorf("user net on a driver with it: %v", err)
	}
}

func TestUserNetAddressesComeFromTheDriver(t *testing.T) {
	got := userNetCmdline(withUserNet.caps.UserNetAddr)
	want := []string{"volant.ip=10.9.0.5/24", "volant.gw=10.9.0.1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cmdline (-want +got):\n%s", diff)
	}
}

func TestMemoryFileOnlyWhereTheDriverTakesIt(t *testing.T) {
	for _, d := range []capsDriver{withUserNet, noUserNet} {
		m := &Manager{cfg: Config{Driver: d, StateDir: "/s", MemoryDir: "/m"}}
		cfg := m.vmConfig("sbx-1", Spec{VCPUs: 1, MemoryMiB: 256}, Runtime{})
		if got, want := cfg.MemoryFile != "", d.caps.MemoryFile; got != want {
			t.Errorf("driver %s: memory file %q, want one: %v", d.name, cfg.MemoryFile, want)
		}
	}
}

func TestTemplateKeyNamesTheVMM(t *testing.T) {
	spec := Spec{Runtime: "default", VCPUs: 1, MemoryMiB: 256, Network: NetworkNone}
	a := (&Manager{cfg: Config{Driver: withUserNet}}).templateKey(spec, Runtime{})
	b := (&Manager{cfg: Config{Driver: noUserNet}}).templateKey(spec, Runtime{})
	if a == b || !strings.HasSuffix(a, "/a@a-1.0") {
		t.Errorf("template keys of two drivers: %q and %q; want them apart, naming driver and version", a, b)
	}
}

func TestDataDiskFormat(t *testing.T) {
	dir := t.TempDir()
	m := &Manager{cfg: Config{Driver: noUserNet, StateDir: dir}}
	if got, want := m.dataDisk("sbx-1"), (hypervisor.Disk{Path: filepath.Join(dir, "disks", "sbx-1", "data.raw"), Format: "raw"}); got != want {
		t.Errorf("new disk: got %+v, want %+v", got, want)
	}
	// An existing image is kept whatever its format.
	old := filepath.Join(dir, "disks", "sbx-2", "data.qcow2")
	os.MkdirAll(filepath.Dir(old), 0o700)
	os.WriteFile(old, nil, 0o600)
	if got := m.dataDisk("sbx-2"); got.Path != old || got.Format != "qcow2" {
		t.Errorf("existing qcow2 disk: got %+v", got)
	}
	// A driver that makes no disks refuses disk_mib clearly.
	m = &Manager{cfg: Config{Driver: capsDriver{name: "c"}, StateDir: dir}}
	if _, err := m.ensureDisk(context.Background(), "sbx-3", 8); !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "disk_mib") {
		t.Errorf("disk on a driver without DiskMaker: got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "disks", "sbx-3")); err == nil {
		t.Error("the refused disk left its directory")
	}
}
