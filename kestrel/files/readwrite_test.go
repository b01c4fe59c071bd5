package files_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/kestrel/client"
)

func TestWriteRead(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name     string
		content  string
		opts     client.WriteOptions
		wantMode string
	}{
		{"empty", "", client.WriteOptions{}, "0644"},
		{"small", "hello\n", client.WriteOptions{Mode: 0o600}, "0600"},
		{"executable", "#!/bin/sh\necho hi\n", client.WriteOptions{Mode: 0o755}, "0755"},
		{"setuid", "x", client.WriteOptions{Mode: 0o755 | fs.ModeSetuid}, "4755"},
		{"nested/with/mkdir", "deep", client.WriteOptions{MkdirAll: true}, "0644"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			fi, err := c.WriteFile(ctx, p, strings.NewReader(tt.content), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Path != p || fi.Size != int64(len(tt.content)) || fi.Mode != tt.wantMode || fi.IsDir {
				t.Errorf("WriteFile answered %+v, want path %s size %d mode %s", fi, p, len(tt.content), tt.wantMode)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.Mode(), fi.FileMode(); got != want {
				t.Errorf("mode on disk = %v, answered %v", got, want)
			}
			got, err := c.ReadFileAll(ctx, p, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.content {
				t.Errorf("read back %q, want %q", got, tt.content)
			}
			for _, n := range dirNames(t, filepath.Dir(p)) {
				if strings.Contains(n, "volant-tmp") {
					t.Errorf("temporary file %s left behind", n)
				}
			}
		})
	}
}

func TestWriteReplaces(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "f")
	writeFile(t, p, "old content that is longer", 0o640)
	if err := os.Chown(p, 1234, 4321); err != nil {
		t.Fatal(err)
	}
	fi, err := c.WriteFile(ctx, p, strings.NewReader("new"), client.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode != "0640" || fi.UID != 1234 || fi.GID != 4321 {
		t.Errorf("replaced file has mode %s owner %d:%d, want the old 0640 1234:4321", fi.Mode, fi.UID, fi.GID)
	}
	uid, gid := 7, 8
	fi, err = c.WriteFile(ctx, p, strings.NewReader("newer"), client.WriteOptions{Mode: 0o600, UID: &uid, GID: &gid})
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode != "0600" || fi.UID != 7 || fi.GID != 8 {
		t.Errorf("file has mode %s owner %d:%d, want 0600 7:8", fi.Mode, fi.UID, fi.GID)
	}
	if data, _ := os.ReadFile(p); string(data) != "newer" {
		t.Errorf("content = %q, want %q", data, "newer")
	}
}

func TestWriteThroughSymlink(t *testing.T) {
	c := newClient(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	writeFile(t, target, "old", 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink("target", link); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteFile(context.Background(), link, strings.NewReader("new"), client.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(target); string(data) != "new" {
		t.Errorf("target content = %q, want %q", data, "new")
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("link was replaced: %v %v", fi, err)
	}
}

func TestWriteErrors(t *testing.T) {
	c := newClient(t)
	dir := t.TempDir()
	tests := []struct {
		name   string
		path   string
		status int
		substr string
	}{
		{"missing parent", filepath.Join(dir, "no/such/file"), http.StatusBadRequest, "mkdir=1"},
		{"directory", dir, http.StatusBadRequest, "is a directory"},
		{"relative", "etc/passwd", http.StatusBadRequest, "absolute"},
		{"empty", "", http.StatusBadRequest, "missing path"},
		{"nul", "/tmp/a\x00b", http.StatusBadRequest, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.WriteFile(context.Background(), tt.path, strings.NewReader("x"), client.WriteOptions{})
			wantAgentError(t, err, tt.status, tt.substr)
		})
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("files left behind: %v", got)
	}
}

func TestReadRanges(t *testing.T) {
	c := newClient(t)
	p := filepath.Join(t.TempDir(), "f")
	writeFile(t, p, "0123456789", 0o644)
	tests := []struct {
		offset, length int64
		want           string
	}{
		{0, 0, "0123456789"},
		{0, 3, "012"},
		{4, 0, "456789"},
		{4, 2, "45"},
		{8, 100, "89"},
		{10, 0, ""},
	}
	for _, tt := range tests {
		rc, err := c.ReadFile(context.Background(), p, tt.offset, tt.length)
		if err != nil {
			t.Fatalf("ReadFile(%d, %d): %v", tt.offset, tt.length, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != tt.want {
			t.Errorf("ReadFile(%d, %d) = %q, %v; want %q", tt.offset, tt.length, got, err, tt.want)
		}
	}
	_, err := c.ReadFile(context.Background(), p, 11, 0)
	wantAgentError(t, err, http.StatusRequestedRangeNotSatisfiable, "beyond the end")
}

func TestReadErrors(t *testing.T) {
	c := newClient(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "big")
	writeFile(t, p, "0123456789", 0o644)
	tests := []struct {
		name   string
		path   string
		status int
		substr string
	}{
		{"directory", dir, http.StatusBadRequest, "is a directory: use /v1/files/list or /v1/files/tar"},
		{"missing", filepath.Join(dir, "nope"), http.StatusNotFound, "no such file"},
		{"relative", "nope", http.StatusBadRequest, "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ReadFile(context.Background(), tt.path, 0, 0)
			wantAgentError(t, err, tt.status, tt.substr)
		})
	}
	_, err := c.ReadFileAll(context.Background(), p, 5)
	wantAgentError(t, err, http.StatusRequestEntityTooLarge, "larger than 5 bytes")
}

// TestReadProcFile reads a file that reports size 0 but has content.
func TestReadProcFile(t *testing.T) {
	c := newClient(t)
	got, err := c.ReadFileAll(context.Background(), "/proc/self/status", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte("Pid:")) {
		t.Errorf("/proc/self/status = %q, want a Pid: line", got)
	}
}

// patternReader yields n deterministic pseudo-random bytes without holding them.
func patternReader(n int64) io.Reader {
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	return io.LimitReader(r, n)
}

func TestLargeFile(t *testing.T) {
	const size = 64 << 20
	c := newClient(t)
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "large")
	want := sha256.New()
	fi, err := c.WriteFile(ctx, p, io.TeeReader(patternReader(size), want), client.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size != size {
		t.Fatalf("size = %d, want %d", fi.Size, size)
	}
	rc, err := c.ReadFile(ctx, p, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := sha256.New()
	n, err := io.Copy(got, rc)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v; want %d", n, err, size)
	}
	if diff := cmp.Diff(want.Sum(nil), got.Sum(nil)); diff != "" {
		t.Errorf("content differs (-want +got):\n%s", diff)
	}
}

func BenchmarkWriteRead10MiB(b *testing.B) {
	const size = 10 << 20
	c := newClient(b)
	ctx := context.Background()
	p := filepath.Join(b.TempDir(), "f")
	data := make([]byte, size)
	_, _ = io.ReadFull(patternReader(size), data)
	b.SetBytes(2 * size)
	for b.Loop() {
		if _, err := c.WriteFile(ctx, p, bytes.NewReader(data), client.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
		rc, err := c.ReadFile(ctx, p, 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
			b.Fatalf("read %d, %v", n, err)
		}
		rc.Close()
	}
}
