package tarfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteExtractRoundTrip(t *testing.T) {
	src := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "sub", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(src, "sub", "a.txt"), []byte("alpha"), 0o640))
	must(os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Symlink("sub/a.txt", filepath.Join(src, "link")))
	must(os.Chmod(filepath.Join(src, "sub", "deep"), 0o555)) // read-only dir, extracted last

	var buf bytes.Buffer
	must(Write(&buf, src, "ignored", WriteOptions{}))
	dst := t.TempDir()
	root, err := os.OpenRoot(dst)
	must(err)
	defer root.Close()
	res, err := Extract(root, dst, &buf, ExtractOptions{})
	must(err)
	if want := (Result{Files: 3, Dirs: 2, Bytes: int64(len("alpha") + len("#!/bin/sh\n"))}); res != want {
		t.Errorf("Extract = %+v, want %+v", res, want)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "sub", "a.txt")); err != nil || string(b) != "alpha" {
		t.Errorf("sub/a.txt = %q, %v", b, err)
	}
	for p, want := range map[string]fs.FileMode{"sub/a.txt": 0o640, "run.sh": 0o755, "sub/deep": 0o555 | fs.ModeDir} {
		if st, err := os.Lstat(filepath.Join(dst, p)); err != nil || st.Mode() != want {
			t.Errorf("%s mode = %v, %v; want %v", p, st.Mode(), err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(dst, "link")); err != nil || l != "sub/a.txt" {
		t.Errorf("link = %q, %v", l, err)
	}
}

func TestWriteSingleFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, p, "named", WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	hdr, err := tar.NewReader(&buf).Next()
	if err != nil || hdr.Name != "named" || hdr.Size != 1 || hdr.Uid != 0 {
		t.Errorf("entry = %+v, %v", hdr, err)
	}
}

func TestExtractRefuses(t *testing.T) {
	tests := []struct {
		name    string
		entries []tar.Header
	}{
		{"dotdot", []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg}}},
		{"absolute", []tar.Header{{Name: "/evil", Typeflag: tar.TypeReg}}},
		{"through symlink", []tar.Header{{Name: "l", Linkname: "..", Typeflag: tar.TypeSymlink}, {Name: "l/evil", Typeflag: tar.TypeReg}}},
		{"hard link out", []tar.Header{{Name: "h", Linkname: "../victim", Typeflag: tar.TypeLink}}},
		{"replaces a dir", []tar.Header{{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "d", Typeflag: tar.TypeReg}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outside := t.TempDir()
			dir := filepath.Join(outside, "dir")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range tt.entries {
				h.Mode |= 0o644
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			_, err = Extract(root, dir, &buf, ExtractOptions{})
			if !errors.As(err, new(*ArchiveError)) {
				t.Errorf("Extract = %v, want an ArchiveError", err)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 1 {
				t.Errorf("written outside the directory: %v", ents)
			}
		})
	}
}
