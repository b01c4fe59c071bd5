package convert

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci/ocitest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("conversion keeps owners and makes device nodes: it needs root")
	}
}

func applyAll(t *testing.T, root string, layers [][]byte) error {
	t.Helper()
	a := NewApplier(root)
	for _, l := range layers {
		if err := a.Apply(bytes.NewReader(l)); err != nil {
			return err
		}
	}
	return a.Finish()
}

func TestApplyTree(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	if err := applyAll(t, root, ocitest.Layers()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"etc/gone", "opq/lower"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: got err %v, want it deleted", p, err)
		}
	}
	for _, p := range []string{"etc/kept", "opq/upper"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if got, _ := os.Readlink(filepath.Join(root, "bin/link")); got != "hello" {
		t.Errorf("bin/link -> %q, want hello", got)
	}
	var a, b syscall.Stat_t
	syscall.Stat(filepath.Join(root, "bin/hello"), &a)
	syscall.Stat(filepath.Join(root, "bin/hard"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("bin/hard: inode %d (nlink %d), bin/hello %d: want one inode, two links", b.Ino, a.Nlink, a.Ino)
	}
	st, _ := os.Stat(filepath.Join(root, "bin/suid"))
	if st.Mode()&os.ModeSetuid == 0 {
		t.Errorf("bin/suid mode %v, want setuid", st.Mode())
	}
	var o syscall.Stat_t
	syscall.Stat(filepath.Join(root, "home/user/owned"), &o)
	if o.Uid != 1000 || o.Gid != 1000 {
		t.Errorf("home/user/owned owner %d:%d, want 1000:1000", o.Uid, o.Gid)
	}
	var d syscall.Stat_t
	syscall.Lstat(filepath.Join(root, "dev/null2"), &d)
	if d.Mode&syscall.S_IFMT != syscall.S_IFCHR || unix.Major(d.Rdev) != 1 || unix.Minor(d.Rdev) != 3 {
		t.Errorf("dev/null2 mode %o rdev %d:%d, want char 1:3", d.Mode, unix.Major(d.Rdev), unix.Minor(d.Rdev))
	}
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(filepath.Join(root, "etc/xattr"), "user.volant", buf)
	if err != nil || string(buf[:n]) != "yes" {
		t.Errorf("etc/xattr user.volant = %q, %v; want yes", buf[:n], err)
	}
}

func TestApplyRefusesEscapes(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name   string
		layers [][]byte
		want   string
	}{
		{"dotdot", [][]byte{ocitest.Layer(ocitest.Entry{Name: "../evil", Body: "x"})}, "escape"},
		{"inner dotdot", [][]byte{ocitest.Layer(ocitest.Entry{Name: "a/../../evil", Body: "x"})}, "escape"},
		{"absolute", [][]byte{ocitest.Layer(ocitest.Entry{Name: "/etc/evil", Body: "x"})}, "absolute"},
		{"symlink parent", [][]byte{ocitest.Layer(
			ocitest.Entry{Name: "up", Type: tar.TypeSymlink, Link: "../../.."},
			ocitest.Entry{Name: "up/evil", Body: "x"})}, "leads out"},
		{"symlink in lower layer", [][]byte{
			ocitest.Layer(ocitest.Entry{Name: "up", Type: tar.TypeSymlink, Link: "../outside"}),
			ocitest.Layer(ocitest.Entry{Name: "up/evil", Body: "x"})}, "leads out"},
		{"hardlink out", [][]byte{ocitest.Layer(ocitest.Entry{Name: "h", Type: tar.TypeLink, Link: "../../etc/passwd"})}, "hardlink"},
		{"whiteout out", [][]byte{ocitest.Layer(ocitest.Entry{Name: "../.wh.x"})}, "escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "root")
			os.Mkdir(root, 0o755)
			err := applyAll(t, root, tt.layers)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an invalid-argument error saying %q", err, tt.want)
			}
			ents, _ := os.ReadDir(parent)
			if len(ents) != 1 {
				t.Errorf("something was written outside the root: %v", ents)
			}
		})
	}
}

func TestApplyAbsoluteSymlinkStaysInside(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	err := applyAll(t, root, [][]byte{
		ocitest.Layer(ocitest.Entry{Name: "usr/bin/", Type: tar.TypeDir}, ocitest.Entry{Name: "bin", Type: tar.TypeSymlink, Link: "/usr/bin"}),
		ocitest.Layer(ocitest.Entry{Name: "bin/tool", Body: "x"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/tool")); err != nil {
		t.Errorf("bin/tool through the /usr/bin symlink: %v", err)
	}
}

func TestApplyMaxBytes(t *testing.T) {
	needRoot(t)
	a := NewApplier(t.TempDir())
	a.MaxBytes = 10
	err := a.Apply(bytes.NewReader(ocitest.Layer(ocitest.Entry{Name: "big", Body: strings.Repeat("x", 11)})))
	if !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("got %v, want resource exhausted", err)
	}
}

// TestMakeExt4 checks that mkfs.ext4 -d keeps what the layers made:
// hardlinks, the device node, the setuid bit, owners and xattrs.
func TestMakeExt4(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	if err := applyAll(t, root, ocitest.Layers()); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "root.ext4")
	if err := MakeExt4(context.Background(), root, img); err != nil {
		t.Fatal(err)
	}
	ocitest.CheckExt4(t, img)
}
