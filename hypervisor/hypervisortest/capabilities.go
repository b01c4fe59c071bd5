package hypervisortest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// CheckCapabilities checks that what Capabilities says matches what the
// driver does, without booting a guest (Run runs it first; drivers that
// cannot boot here run it alone): user-mode addressing when it has user-mode
// networking (and a clear refusal when it has not), data disks in each
// format it lists, and a VMM version.
func CheckCapabilities(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, guest Guest) {
	d := newDriver(t)
	caps := d.Capabilities()
	if v, ok := d.(hypervisor.Versioner); !ok || v.Version() == "" {
		t.Errorf("driver %s names no VMM version (hypervisor.Versioner); templates and snapshots need it", d.Name())
	}
	if caps.UserNet {
		if _, err := netip.ParsePrefix(caps.UserNetAddr.IP); err != nil {
			t.Errorf("UserNetAddr.IP %q: %v", caps.UserNetAddr.IP, err)
		}
		if _, err := netip.ParseAddr(caps.UserNetAddr.Gateway); err != nil {
			t.Errorf("UserNetAddr.Gateway %q: %v", caps.UserNetAddr.Gateway, err)
		}
	} else {
		cfg := Config(t, guest, "conf-nouser")
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
		vm, err := d.Boot(context.Background(), cfg)
		if err == nil {
			vm.Kill()
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Boot with user-mode net on a driver without it: got %v, want ErrInvalidArgument", err)
		}
		if _, err := os.Stat(cfg.Dir); err == nil {
			t.Errorf("refused Boot left %s behind", cfg.Dir)
		}
	}
	dm, ok := d.(hypervisor.DiskMaker)
	if len(caps.DiskFormats) > 0 && !ok {
		t.Fatalf("driver %s lists disk formats %v but is no hypervisor.DiskMaker", d.Name(), caps.DiskFormats)
	}
	ctx := context.Background()
	for _, f := range caps.DiskFormats {
		dir := t.TempDir()
		disk := hypervisor.Disk{Path: filepath.Join(dir, "d."+f), Format: f}
		if err := dm.CreateDisk(ctx, disk, 4); err != nil {
			t.Errorf("CreateDisk %s: %v", f, err)
			continue
		}
		if err := dm.CreateDisk(ctx, disk, 4); !errors.Is(err, errdefs.ErrAlreadyExists) {
			t.Errorf("CreateDisk %s over an existing image: got %v, want ErrAlreadyExists", f, err)
		}
		flat := hypervisor.Disk{Path: filepath.Join(dir, "flat."+f), Format: f}
		if err := dm.FlattenDisk(ctx, disk, flat); err != nil {
			t.Errorf("FlattenDisk %s: %v", f, err)
		} else if _, err := os.Stat(flat.Path); err != nil {
			t.Errorf("FlattenDisk %s wrote nothing: %v", f, err)
		}
		if _, err := os.Stat(flat.Path + ".tmp"); err == nil {
			t.Errorf("FlattenDisk %s left its temporary file", f)
		}
	}
	if err := dmCheckBadFormat(ctx, dm, ok); err != nil {
		t.Error(err)
	}
}

// dmCheckBadFormat checks a DiskMaker refuses a format it does not list.
func dmCheckBadFormat(ctx context.Context, dm hypervisor.DiskMaker, ok bool) error {
	if !ok {
		return nil
	}
	p := filepath.Join(os.TempDir(), fmt.Sprintf("volant-badformat-%d.vmdk", os.Getpid()))
	defer os.Remove(p)
	if err := dm.CreateDisk(ctx, hypervisor.Disk{Path: p, Format: "vmdk"}, 4); !errors.Is(err, errdefs.ErrInvalidArgument) {
		return fmt.Errorf("CreateDisk of format vmdk: got %v, want ErrInvalidArgument", err)
	}
	return nil
}
