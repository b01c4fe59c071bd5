package files

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/volant-sh/volant/internal/tarfs"
)

// FuzzExtract: any tar stream is extracted below the root or refused, and
// nothing is written outside it (a sibling of the root stays as it was).
func FuzzExtract(f *testing.F) {
	for _, entries := range [][]tar.Header{
		{{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}},
		{{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}},
		{{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "../outside"}, {Name: "link/x", Typeflag: tar.TypeReg, Size: 2}},
		{{Name: "hard", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}},
	} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range entries {
			_ = tw.WriteHeader(&h)
			if h.Size > 0 {
				_, _ = tw.Write([]byte("hi"))
			}
		}
		_ = tw.Close()
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if declaredSize(data) > 1<<20 {
			// A few header bytes can declare gigabytes (sparse files):
			// extracting them only tests the disk, so they are skipped.
			t.Skip()
		}
		base := t.TempDir()
		dir := filepath.Join(base, "root")
		outside := filepath.Join(base, "outside")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		_, _ = tarfs.Extract(root, dir, bytes.NewReader(data), tarfs.ExtractOptions{Owners: true})
		entries, _ := os.ReadDir(base)
		if len(entries) != 2 {
			t.Fatalf("extraction left %d entries beside the root", len(entries))
		}
		if b, err := os.ReadFile(outside); err != nil || string(b) != "keep" {
			t.Fatalf("a file outside the root changed: %q, %v", b, err)
		}
	})
}

// declaredSize sums the sizes a tar stream's headers declare, as far as it
// parses.
func declaredSize(data []byte) int64 {
	var n int64
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err != nil {
			return n
		}
		if hdr.Size > 0 {
			n += hdr.Size
		}
		if n > 1<<40 || n < 0 {
			return 1 << 40
		}
	}
}
