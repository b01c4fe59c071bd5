package image

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/image/cpio"
)

func sampleContent() initramfsContent {
	return initramfsContent{
		Kestrel: []byte("kestrel"),
		Busybox: []byte("busybox"),
		Applets: []string{"bin/ls", "bin/sh", "usr/sbin/chroot"},
		Release: "6.1.0-1-cloud-amd64",
		Modules: []moduleFile{
			{Path: "kernel/drivers/virtio/virtio_ring.ko", Data: []byte("ring")},
			{Path: "kernel/drivers/virtio/virtio.ko", Data: []byte("virtio")},
		},
		ModulesDep: []byte("dep\n"),
		OSVersion:  "1",
	}
}

// TestInitramfsEntries is the golden listing of the layout: names, modes
// and owners, in archive order.
func TestInitramfsEntries(t *testing.T) {
	var got []string
	files := map[string]string{}
	for _, e := range initramfsEntries(sampleContent()) {
		line := fmt.Sprintf("%s %v %d:%d", e.Name, e.FileMode(), e.UID, e.GID)
		if e.Type() == cpio.TypeChar {
			line += fmt.Sprintf(" %d,%d", e.RDevMajor, e.RDevMinor)
		}
		if e.Type() == cpio.TypeSymlink {
			line += " -> " + string(e.Data)
		}
		if e.MTime != 0 {
			t.Errorf("%s has mtime %d, want 0", e.Name, e.MTime)
		}
		got = append(got, line)
		files[e.Name] = string(e.Data)
	}
	want := []string{
		"bin drwxr-xr-x 0:0",
		"bin/busybox -rwxr-xr-x 0:0",
		"bin/ls Lrwxrwxrwx 0:0 -> /bin/busybox",
		"bin/sh Lrwxrwxrwx 0:0 -> /bin/busybox",
		"dev drwxr-xr-x 0:0",
		"dev/console Dcrw------- 0:0 5,1",
		"dev/null Dcrw-rw-rw- 0:0 1,3",
		"etc drwxr-xr-x 0:0",
		"etc/group -rw-r--r-- 0:0",
		"etc/hostname Lrwxrwxrwx 0:0 -> /proc/sys/kernel/hostname",
		"etc/hosts -rw-r--r-- 0:0",
		"etc/kestrel drwxr-xr-x 0:0",
		"etc/kestrel/modules -rw-r--r-- 0:0",
		"etc/os-release -rw-r--r-- 0:0",
		"etc/passwd -rw-r--r-- 0:0",
		"etc/resolv.conf -rw-r--r-- 0:0",
		"home drwxr-xr-x 0:0",
		"home/sandbox drwxr-xr-x 1000:1000",
		"init -rwxr-xr-x 0:0",
		"lib drwxr-xr-x 0:0",
		"lib/modules drwxr-xr-x 0:0",
		"lib/modules/6.1.0-1-cloud-amd64 drwxr-xr-x 0:0",
		"lib/modules/6.1.0-1-cloud-amd64/kernel drwxr-xr-x 0:0",
		"lib/modules/6.1.0-1-cloud-amd64/kernel/drivers drwxr-xr-x 0:0",
		"lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/virtio drwxr-xr-x 0:0",
		"lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/virtio/virtio.ko -rw-r--r-- 0:0",
		"lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/virtio/virtio_ring.ko -rw-r--r-- 0:0",
		"lib/modules/6.1.0-1-cloud-amd64/modules.dep -rw-r--r-- 0:0",
		"mnt drwxr-xr-x 0:0",
		"proc drwxr-xr-x 0:0",
		"root drwx------ 0:0",
		"run drwxr-xr-x 0:0",
		"sbin drwxr-xr-x 0:0",
		"sys drwxr-xr-x 0:0",
		"tmp dtrwxrwxrwx 0:0",
		"usr drwxr-xr-x 0:0",
		"usr/bin drwxr-xr-x 0:0",
		"usr/sbin drwxr-xr-x 0:0",
		"usr/sbin/chroot Lrwxrwxrwx 0:0 -> /bin/busybox",
		"var drwxr-xr-x 0:0",
		"var/tmp dtrwxrwxrwx 0:0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("initramfs layout (-want +got):\n%s", diff)
	}
	for name, want := range map[string]string{
		"init":                "kestrel",
		"etc/kestrel/modules": "/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/virtio/virtio_ring.ko\n/lib/modules/6.1.0-1-cloud-amd64/kernel/drivers/virtio/virtio.ko\n",
		"etc/passwd":          "root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/home/sandbox:/bin/sh\n",
		"etc/group":           "root:x:0:\nsandbox:x:1000:\n",
	} {
		if diff := cmp.Diff(want, files[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestInitramfsShWithoutApplet(t *testing.T) {
	c := sampleContent()
	c.Applets = []string{"bin/ls"}
	for _, e := range initramfsEntries(c) {
		if e.Name == "bin/sh" {
			return
		}
	}
	t.Error("no bin/sh when busybox does not list it")
}

func TestWriteInitramfsGzip(t *testing.T) {
	entries := initramfsEntries(sampleContent())
	var plain, gz1, gz2 bytes.Buffer
	for _, w := range []struct {
		buf *bytes.Buffer
		c   Compression
	}{{&plain, CompressNone}, {&gz1, CompressGzip}, {&gz2, CompressGzip}} {
		if err := writeInitramfs(w.buf, entries, w.c); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(gz1.Bytes(), gz2.Bytes()) {
		t.Error("two gzip initramfs of the same entries differ")
	}
	zr, err := gzip.NewReader(&gz1)
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header has mtime %v, name %q; want neither", zr.ModTime, zr.Name)
	}
	un, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(un, plain.Bytes()) {
		t.Error("gzip initramfs does not decompress to the plain one")
	}
}

// TestWgetWrapped: wget is the wrapper script, not a link to busybox (whose
// -T crashes), and every other applet stays a link.
func TestWgetWrapped(t *testing.T) {
	entries := initramfsEntries(initramfsContent{Applets: []string{"bin/ls", "usr/bin/wget"}})
	found := 0
	for _, e := range entries {
		switch e.Name {
		case "usr/bin/wget":
			found++
			if e.Mode&0o170000 != 0o100000 || !strings.Contains(string(e.Data), "/bin/busybox timeout") {
				t.Errorf("usr/bin/wget: mode %o, content %q; want the wrapper script", e.Mode, e.Data)
			}
		case "bin/ls":
			found++
			if string(e.Data) != "/bin/busybox" {
				t.Errorf("bin/ls: %q, want a link to /bin/busybox", e.Data)
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d of the 2 applets", found)
	}
}
