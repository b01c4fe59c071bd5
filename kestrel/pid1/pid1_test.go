package pid1

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseModules(t *testing.T) {
	in := "# virtio first\n/lib/modules/virtio.ko\n\n  /lib/modules/virtio_console.ko  \n#/lib/modules/skip.ko\n"
	got, err := ParseModules(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/modules/virtio.ko", "/lib/modules/virtio_console.ko"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
}

func TestMountsOrder(t *testing.T) {
	// /dev/pts must follow /dev, and cgroup2 must follow /sys.
	idx := map[string]int{}
	for i, m := range Mounts() {
		idx[m.Target] = i
	}
	for _, pair := range [][2]string{{"/dev", "/dev/pts"}, {"/sys", "/sys/fs/cgroup"}, {"/dev", "/dev/shm"}} {
		if idx[pair[0]] >= idx[pair[1]] {
			t.Errorf("%s is mounted after %s", pair[0], pair[1])
		}
	}
}

func TestApplySysctls(t *testing.T) {
	root := t.TempDir()
	for _, s := range Sysctls() {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, s.Key)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, s.Key), []byte("20\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	list := append(Sysctls(), Sysctl{Key: "kernel/not_in_this_kernel", Value: "1"})
	if n := ApplySysctls(root, list, slog.New(slog.DiscardHandler)); n != len(Sysctls()) {
		t.Fatalf("set %d, want %d", n, len(Sysctls()))
	}
	b, _ := os.ReadFile(filepath.Join(root, "vm", "compaction_proactiveness"))
	if string(b) != "0\n" {
		t.Fatalf("compaction_proactiveness = %q", b)
	}
}
