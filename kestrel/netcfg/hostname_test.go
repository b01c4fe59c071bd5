package netcfg

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteHostnameFile(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "hostname")
	writeHostnameFile(plain, "sbx-1")
	if got, err := os.ReadFile(plain); err != nil || string(got) != "sbx-1\n" {
		t.Fatalf("plain file: %q, %v; want \"sbx-1\\n\"", got, err)
	}
	// A link to the kernel's name is left alone: the kernel already has
	// the name, and a write would go to /proc.
	link := filepath.Join(dir, "linked")
	if err := os.Symlink(KernelHostname, link); err != nil {
		t.Fatal(err)
	}
	writeHostnameFile(link, "sbx-2")
	if target, err := os.Readlink(link); err != nil || target != KernelHostname {
		t.Fatalf("link became %q, %v; want it to stay a link to %s", target, err, KernelHostname)
	}
	// A link elsewhere is written through, as before.
	other := filepath.Join(dir, "other")
	if err := os.Symlink(plain, other); err != nil {
		t.Fatal(err)
	}
	writeHostnameFile(other, "sbx-3")
	if got, _ := os.ReadFile(plain); string(got) != "sbx-3\n" {
		t.Fatalf("through a link elsewhere: %q, want \"sbx-3\\n\"", got)
	}
}
