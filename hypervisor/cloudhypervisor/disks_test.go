package cloudhypervisor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

func TestDisks(t *testing.T) {
	d := &Driver{}
	ctx := context.Background()
	dir := t.TempDir()
	src := hypervisor.Disk{Path: filepath.Join(dir, "a.raw"), Format: "raw"}
	if err := d.CreateDisk(ctx, src, 8); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(src.Path, os.O_WRONLY, 0)
	f.WriteAt([]byte("head"), 0)
	f.WriteAt([]byte("middle"), 4<<20)
	f.Close()

	dst := hypervisor.Disk{Path: filepath.Join(dir, "b.raw"), Format: "raw"}
	os.WriteFile(dst.Path, []byte("old"), 0o600)
	if err := d.FlattenDisk(ctx, src, dst); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src.Path)
	b, _ := os.ReadFile(dst.Path)
	if len(b) != 8<<20 || !bytes.Equal(a, b) {
		t.Errorf("copy: %d bytes, equal %v; want the 8 MiB source", len(b), bytes.Equal(a, b))
	}
	if st, err := os.Stat(dst.Path); err == nil {
		if blocks := st.Sys().(*syscall.Stat_t).Blocks * 512; blocks > 1<<20 {
			t.Errorf("copy allocates %d bytes; the holes of the source were filled", blocks)
		}
	}
	if err := d.CreateDisk(ctx, src, 8); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("CreateDisk over an image: got %v, want ErrAlreadyExists", err)
	}
	for _, bad := range []struct {
		name string
		err  error
	}{
		{"qcow2 create", d.CreateDisk(ctx, hypervisor.Disk{Path: filepath.Join(dir, "c.qcow2"), Format: "qcow2"}, 8)},
		{"zero size", d.CreateDisk(ctx, hypervisor.Disk{Path: filepath.Join(dir, "z.raw"), Format: "raw"}, 0)},
		{"format change", d.FlattenDisk(ctx, src, hypervisor.Disk{Path: filepath.Join(dir, "d.qcow2"), Format: "qcow2"})},
	} {
		if !errors.Is(bad.err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: got %v, want ErrInvalidArgument", bad.name, bad.err)
		}
	}
}
