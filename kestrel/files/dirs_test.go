package files_test

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/kestrel/client"
)

func TestStat(t *testing.T) {
	c := newClient(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), "abc", 0o640)
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	type view struct {
		Name, Mode, LinkTarget string
		Size                   int64
		IsDir, IsSymlink       bool
		ModeBits               uint32
	}
	tests := []struct {
		name string
		want view
	}{
		{"f", view{Name: "f", Mode: "0640", Size: 3, ModeBits: 0o100640}},
		{"d", view{Name: "d", Mode: "0700", IsDir: true, ModeBits: 0o040700, Size: 4096}},
		{"l", view{Name: "l", Mode: "0777", LinkTarget: "f", Size: 1, IsSymlink: true, ModeBits: 0o120777}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			fi, err := c.Stat(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			got := view{fi.Name, fi.Mode, fi.LinkTarget, fi.Size, fi.IsDir, fi.IsSymlink, fi.ModeBits}
			if tt.want.IsDir {
				got.Size = tt.want.Size // directory sizes depend on the file system
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Stat(%s) (-want +got):\n%s", p, diff)
			}
			st, _ := os.Lstat(p)
			if fi.Path != p || !fi.ModTime.Equal(st.ModTime()) || fi.FileMode() != st.Mode() {
				t.Errorf("Stat(%s) = path %s mtime %v mode %v; want %s %v %v", p, fi.Path, fi.ModTime, fi.FileMode(), p, st.ModTime(), st.Mode())
			}
		})
	}
	_, err := c.Stat(context.Background(), filepath.Join(dir, "missing"))
	wantAgentError(t, err, http.StatusNotFound, "no such file")
}

func TestList(t *testing.T) {
	c := newClient(t)
	dir := t.TempDir()
	for _, n := range []string{"b", "a", "c/z", "c/y/x"} {
		writeFile(t, filepath.Join(dir, n), n, 0o644)
	}
	tests := []struct {
		name          string
		opts          client.ListOptions
		want          []string
		wantTruncated bool
	}{
		{"flat", client.ListOptions{}, []string{"a", "b", "c"}, false},
		{"limit", client.ListOptions{Limit: 2}, []string{"a", "b"}, true},
		{"exact limit", client.ListOptions{Limit: 3}, []string{"a", "b", "c"}, false},
		{"recursive", client.ListOptions{Recursive: true}, []string{"a", "b", "c", "c/y", "c/y/x", "c/z"}, false},
		{"recursive limit", client.ListOptions{Recursive: true, Limit: 4}, []string{"a", "b", "c", "c/y"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := c.List(context.Background(), dir, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range l.Entries {
				rel, _ := filepath.Rel(dir, e.Path)
				got = append(got, rel)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || l.Truncated != tt.wantTruncated {
				t.Errorf("List (-want +got):\n%s truncated = %v, want %v", diff, l.Truncated, tt.wantTruncated)
			}
		})
	}
	_, err := c.List(context.Background(), filepath.Join(dir, "a"), client.ListOptions{})
	wantAgentError(t, err, http.StatusBadRequest, "not a directory")
}

func TestMkdir(t *testing.T) {
	mode0700 := fs.FileMode(0o700)
	c := newClient(t)
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "x/y/z")
	fi, err := c.Mkdir(ctx, p, &mode0700)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir || fi.Mode != "0700" {
		t.Errorf("Mkdir answered dir %v mode %s, want a dir with 0700", fi.IsDir, fi.Mode)
	}
	if _, err := c.Mkdir(ctx, p, nil); err != nil {
		t.Errorf("Mkdir of an existing directory: %v", err)
	}
	writeFile(t, filepath.Join(dir, "file"), "", 0o644)
	_, err = c.Mkdir(ctx, filepath.Join(dir, "file"), nil)
	wantAgentError(t, err, http.StatusConflict, "not a directory")
	_, err = c.Mkdir(ctx, filepath.Join(dir, "file/sub"), nil)
	wantAgentError(t, err, http.StatusConflict, "not a directory")
}

func TestRemove(t *testing.T) {
	c := newClient(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), "", 0o644)
	writeFile(t, filepath.Join(dir, "full/a/b"), "", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		recursive bool
		status    int // 0: success
		substr    string
	}{
		{"file", filepath.Join(dir, "f"), false, 0, ""},
		{"empty dir", filepath.Join(dir, "empty"), false, 0, ""},
		{"full dir", filepath.Join(dir, "full"), false, http.StatusConflict, "recursive=1"},
		{"full dir recursive", filepath.Join(dir, "full"), true, 0, ""},
		{"missing", filepath.Join(dir, "f"), false, http.StatusNotFound, "no such file"},
		{"root", "/", true, http.StatusBadRequest, `refusing to delete "/"`},
		{"root uncleaned", "/tmp/..", true, http.StatusBadRequest, `refusing to delete "/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Remove(context.Background(), tt.path, tt.recursive)
			if tt.status != 0 {
				wantAgentError(t, err, tt.status, tt.substr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(tt.path); !os.IsNotExist(err) {
				t.Errorf("%s still exists: %v", tt.path, err)
			}
		})
	}
}
