package files_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// treeEntry is what a tar round trip must keep of a file.
type treeEntry struct {
	Mode    fs.FileMode
	Content string
	Link    string
}

// readTree describes every entry below dir by its relative path.
func readTree(t *testing.T, dir string) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		e := treeEntry{Mode: fi.Mode()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Link, err = os.Readlink(p)
		case fi.Mode().IsRegular():
			var b []byte
			b, err = os.ReadFile(p)
			e.Content = string(b)
		}
		out[rel] = e
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTarRoundTrip(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "top.txt"), "top", 0o644)
	writeFile(t, filepath.Join(src, "bin/run"), "#!/bin/sh\n", 0o750)
	writeFile(t, filepath.Join(src, "a/b/c/deep"), "deep", 0o600)
	if err := os.Mkdir(filepath.Join(src, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../top.txt", filepath.Join(src, "a/up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(src, "abs")); err != nil {
		t.Fatal(err)
	}
	rc, err := c.DownloadTar(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dst := filepath.Join(t.TempDir(), "new/dst")
	res, err := c.UploadTar(ctx, dst, rc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readTree(t, src), readTree(t, dst)); diff != "" {
		t.Errorf("extracted tree differs (-want +got):\n%s", diff)
	}
	if res.Files != 5 || res.Dirs != 5 || res.Bytes != int64(len("top#!/bin/sh\ndeep")) {
		t.Errorf("UploadTar = %+v, want 5 files (3 regular, 2 links), 5 dirs, %d bytes", res, len("top#!/bin/sh\ndeep"))
	}
}

func TestTarSingleFile(t *testing.T) {
	c := newClient(t)
	p := filepath.Join(t.TempDir(), "one.txt")
	writeFile(t, p, "one", 0o640)
	rc, err := c.DownloadTar(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(tr)
	if hdr.Name != "one.txt" || hdr.Mode != 0o640 || string(body) != "one" {
		t.Errorf("entry %q mode %o content %q, want one.txt 0640 %q", hdr.Name, hdr.Mode, body, "one")
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("second entry: %v, want EOF", err)
	}
}

type tarEntry struct {
	name, link string
	typ        byte
	content    string
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.content))}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestTarUploadRefusesEscapes(t *testing.T) {
	c := newClient(t)
	reg := func(name string) tarEntry { return tarEntry{name: name, typ: tar.TypeReg, content: "pwned"} }
	sym := func(name, link string) tarEntry { return tarEntry{name: name, link: link, typ: tar.TypeSymlink} }
	tests := []struct {
		name    string
		entries []tarEntry
	}{
		{"dotdot", []tarEntry{reg("ok"), reg("../evil")}},
		{"inner dotdot", []tarEntry{reg("a/../../evil")}},
		{"absolute", []tarEntry{reg("/OUTSIDE/evil")}},
		{"symlink to parent", []tarEntry{sym("link", ".."), reg("link/evil")}},
		{"symlink absolute", []tarEntry{sym("link", "/OUTSIDE"), reg("link/evil")}},
		{"symlink chain", []tarEntry{sym("a", "b"), sym("b", "../"), reg("a/evil")}},
		{"symlink then dir", []tarEntry{sym("link", ".."), {name: "link/newdir/", typ: tar.TypeDir}}},
		{"hard link out", []tarEntry{{name: "h", link: "../victim", typ: tar.TypeLink}}},
		{"hard link through symlink", []tarEntry{sym("link", ".."), {name: "h", link: "link/victim", typ: tar.TypeLink}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outside := t.TempDir()
			writeFile(t, filepath.Join(outside, "victim"), "precious", 0o644)
			dir := filepath.Join(outside, "dir")
			for i := range tt.entries {
				if tt.entries[i].link == "/OUTSIDE" {
					tt.entries[i].link = outside
				}
				if rest, ok := strings.CutPrefix(tt.entries[i].name, "/OUTSIDE"); ok {
					tt.entries[i].name = outside + rest
				}
			}
			_, err := c.UploadTar(context.Background(), dir, bytes.NewReader(makeTar(t, tt.entries)))
			wantAgentError(t, err, http.StatusBadRequest, "escapes "+dir)
			if diff := cmp.Diff([]string{"dir", "victim"}, dirNames(t, outside)); diff != "" {
				t.Errorf("written outside the directory (-want +got):\n%s", diff)
			}
			if data, _ := os.ReadFile(filepath.Join(outside, "victim")); string(data) != "precious" {
				t.Errorf("victim = %q, want it untouched", data)
			}
		})
	}
}

func TestTarUploadInvalid(t *testing.T) {
	c := newClient(t)
	_, err := c.UploadTar(context.Background(), t.TempDir(), bytes.NewReader(bytes.Repeat([]byte("not a tar"), 100)))
	wantAgentError(t, err, http.StatusBadRequest, "valid tar")
}

func TestTarUploadReplacesSymlink(t *testing.T) {
	c := newClient(t)
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "victim"), "precious", 0o644)
	dir := filepath.Join(outside, "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink already in the directory is replaced, never written through.
	if err := os.Symlink("../victim", filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	tarball := makeTar(t, []tarEntry{{name: "f", typ: tar.TypeReg, content: "new"}})
	if _, err := c.UploadTar(context.Background(), dir, bytes.NewReader(tarball)); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(outside, "victim")); string(data) != "precious" {
		t.Errorf("victim = %q, want it untouched", data)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "f")); string(data) != "new" {
		t.Errorf("f = %q, want %q", data, "new")
	}
}

// TestTarUploadEarlyRefusal checks that a refusal reaches the client while
// it is still sending a large archive.
func TestTarUploadEarlyRefusal(t *testing.T) {
	c := newClient(t)
	big := tarEntry{name: "big", typ: tar.TypeReg, content: strings.Repeat("x", 32<<20)}
	tarball := makeTar(t, []tarEntry{{name: "../evil", typ: tar.TypeReg, content: "x"}, big})
	dir := filepath.Join(t.TempDir(), "dir")
	_, err := c.UploadTar(context.Background(), dir, bytes.NewReader(tarball))
	wantAgentError(t, err, http.StatusBadRequest, "escapes")
}
