// Package ocitest builds image layers for tests: tar streams of the
// entries a test names, and the test image of issue 10 (a whiteout, an
// opaque directory, a symlink, a hardlink, a setuid binary, a file owned
// by uid 1000 and a device node).
package ocitest

import (
	"archive/tar"
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Entry is one tar entry of a layer.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg when zero
	Mode     int64
	UID, GID int
	Body     string
	Link     string // symlink or hardlink target
	Major    int64
	Minor    int64
	Xattrs   map[string]string
}

// Layer returns an uncompressed tar of es.
func Layer(es ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Uid: e.UID, Gid: e.GID,
			Linkname: e.Link, Devmajor: e.Major, Devminor: e.Minor, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if len(e.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.Body))
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Layers are the two layers of the test image. The first lays down a
// tree; the second deletes etc/gone with a whiteout, makes opq/ opaque
// (its lower file disappears, its new one stays), and adds a symlink, a
// hardlink, a setuid binary, a file owned by uid 1000, a character
// device and a file with an xattr.
func Layers() [][]byte {
	l1 := Layer(
		Entry{Name: "etc/", Type: tar.TypeDir},
		Entry{Name: "etc/gone", Body: "deleted by a whiteout\n"},
		Entry{Name: "etc/kept", Body: "kept\n"},
		Entry{Name: "opq/", Type: tar.TypeDir},
		Entry{Name: "opq/lower", Body: "hidden by the opaque marker\n"},
		Entry{Name: "bin/", Type: tar.TypeDir},
		Entry{Name: "bin/hello", Mode: 0o755, Body: "#!/bin/sh\necho hello\n"},
	)
	l2 := Layer(
		Entry{Name: "etc/.wh.gone"},
		Entry{Name: "opq/", Type: tar.TypeDir},
		Entry{Name: "opq/.wh..wh..opq"},
		Entry{Name: "opq/upper", Body: "upper\n"},
		Entry{Name: "bin/link", Type: tar.TypeSymlink, Link: "hello"},
		Entry{Name: "bin/hard", Type: tar.TypeLink, Link: "bin/hello"},
		Entry{Name: "bin/suid", Mode: 0o4755, Body: "setuid\n"},
		Entry{Name: "home/", Type: tar.TypeDir},
		Entry{Name: "home/user/", Type: tar.TypeDir, UID: 1000, GID: 1000},
		Entry{Name: "home/user/owned", UID: 1000, GID: 1000, Body: "mine\n"},
		Entry{Name: "dev/", Type: tar.TypeDir},
		Entry{Name: "dev/null2", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 3},
		Entry{Name: "etc/xattr", Body: "x\n", Xattrs: map[string]string{"user.volant": "yes"}},
	)
	return [][]byte{l1, l2}
}

// Debugfs runs debugfs -R req on the ext4 file img (read-only) and returns
// what it printed.
func Debugfs(img, req string) (string, error) {
	out, err := exec.Command("/usr/sbin/debugfs", "-R", req, img).CombinedOutput()
	return string(out), err
}

// CheckExt4 checks the tree of Layers's tree in an ext4 file with debugfs.
func CheckExt4(t testing.TB, img string) {
	t.Helper()
	stat := func(p string) string {
		out, err := Debugfs(img, "stat "+p)
		if err != nil {
			t.Fatalf("debugfs stat %s: %v\n%s", p, err, out)
		}
		return out
	}
	for _, p := range []string{"/etc/gone", "/opq/lower"} {
		if out := stat(p); !strings.Contains(out, "File not found") {
			t.Errorf("%s is still there:\n%s", p, out)
		}
	}
	checks := []struct{ path, want string }{
		{"/opq/upper", "Type: regular"},
		{"/bin/link", "Fast link dest: \"hello\""},
		{"/bin/hard", "Links: 2"},
		{"/bin/suid", "Mode:  04755"},
		{"/home/user/owned", "User:  1000   Group:  1000"},
		{"/dev/null2", "Type: character special"},
		{"/dev/null2", "Device major/minor number: 01:03"},
		{"/etc/xattr", "user.volant (3) = \"yes\""},
	}
	for _, c := range checks {
		if out := stat(c.path); !strings.Contains(out, c.want) {
			t.Errorf("%s: want %q in:\n%s", c.path, c.want, out)
		}
	}
	a, b := stat("/bin/hello"), stat("/bin/hard")
	inode := func(s string) string { f := strings.Fields(s); return f[1] }
	if inode(a) != inode(b) {
		t.Errorf("/bin/hard is inode %s, /bin/hello %s: want one inode", inode(b), inode(a))
	}
}
