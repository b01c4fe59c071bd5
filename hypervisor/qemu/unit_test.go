package qemu

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

func TestDecideAccel(t *testing.T) {
	probed := accelDecision{Accel: AccelKVM, Reason: "probe said so"}
	tests := []struct {
		name      string
		opt       string
		kvmUsable bool
		wantProbe bool
		want      accelDecision
	}{
		{"explicit kvm wins", AccelKVM, false, false, accelDecision{Accel: AccelKVM, Reason: "accel=kvm requested"}},
		{"explicit tcg wins", AccelTCG, true, false, accelDecision{Accel: AccelTCG, Reason: "accel=tcg requested"}},
		{"auto without kvm", AccelAuto, false, false, accelDecision{Accel: AccelTCG, Reason: "no kvm"}},
		{"auto with kvm probes", AccelAuto, true, true, probed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			got := decideAccel(tt.opt, tt.kvmUsable, "no kvm", func() accelDecision { called = true; return probed })
			if called != tt.wantProbe {
				t.Errorf("probe called: got %v, want %v", called, tt.wantProbe)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAccelCache(t *testing.T) {
	c := &accelCache{path: filepath.Join(t.TempDir(), "accel-probe.json")}
	key := probeKey("QEMU 7.2.22", "6.1.0", "abc")
	if _, ok := c.get(key); ok {
		t.Fatal("empty cache has an entry")
	}
	want := accelDecision{Accel: AccelTCG, Reason: "timeout"}
	if err := c.put(key, want); err != nil {
		t.Fatal(err)
	}
	// A new cache on the same file (a restarted daemon) sees it.
	c2 := &accelCache{path: c.path}
	got, ok := c2.get(key)
	if !ok {
		t.Fatal("entry lost")
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(accelDecision{}, "At")); diff != "" {
		t.Errorf("cached (-want +got):\n%s", diff)
	}
	if _, ok := c2.get(probeKey("QEMU 8.0", "6.1.0", "abc")); ok {
		t.Error("another qemu version hit the cache")
	}
	// A damaged file is an empty cache, and is rewritten.
	os.WriteFile(c.path, []byte("{nope"), 0o600)
	if _, ok := c2.get(key); ok {
		t.Error("damaged cache returned an entry")
	}
	if err := c2.put(key, want); err != nil {
		t.Fatal(err)
	}
}

func TestTSCKHz(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"processor\t: 0\ncpu MHz\t\t: 2299.998\ncache size\t: 1 KB\ncpu MHz\t\t: 1.0\n", 2299998},
		{"processor\t: 0\n", 0},
		{"cpu MHz\t\t: bogus\n", 0},
	}
	for _, tt := range tests {
		if got := tscKHz(strings.NewReader(tt.in)); got != tt.want {
			t.Errorf("tscKHz(%q): got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestBoundedLogKeepsTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	const limit = 1000
	l, err := openBoundedLog(path, limit)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := range 500 {
		line := []byte(strings.Repeat("x", i%37) + "\n")
		all.Write(line)
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(path); st.Size() > limit {
			t.Fatalf("after %d writes the log has %d bytes, limit %d", i, st.Size(), limit)
		}
	}
	// One write larger than the limit keeps its own tail.
	big := bytes.Repeat([]byte("0123456789"), 300)
	all.Write(big)
	l.Write(big)
	l.Close()
	got, _ := os.ReadFile(path)
	if len(got) < limit/2 || len(got) > limit {
		t.Errorf("log holds %d bytes, want between %d and %d", len(got), limit/2, limit)
	}
	if !bytes.HasSuffix(all.Bytes(), got) {
		t.Error("log is not the tail of what was written")
	}
	// Reopening (Attach after a restart) appends to the same tail.
	l, _ = openBoundedLog(path, limit)
	l.Write([]byte("after restart\n"))
	l.Close()
	got, _ = os.ReadFile(path)
	if !bytes.HasSuffix(got, []byte("after restart\n")) || len(got) > limit {
		t.Errorf("after reopen: %d bytes, tail %q", len(got), got[max(0, len(got)-20):])
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{StateDir: "rel"}, {StateDir: "/x", Accel: "hvf"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v): no error", o)
		}
	}
	if err := (Options{StateDir: "/x", Accel: AccelTCG}).Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestCopySparse(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	f.Truncate(size)
	// Data in a hole-y file: one page, a zero-filled MiB written as data,
	// and a run at the very end.
	f.WriteAt([]byte("page"), 5<<20+123)
	f.WriteAt(make([]byte, 1<<20), 10<<20)
	f.WriteAt(bytes.Repeat([]byte{7}, 3<<20), size-3<<20)
	f.Close()
	dst := filepath.Join(dir, "dst")
	n, err := copySparse(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(4096 + 3<<20); n != want {
		t.Errorf("copySparse wrote %d bytes, want %d", n, want)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(dst)
	if !bytes.Equal(a, b) {
		t.Error("copy differs from the source")
	}
	var st unix.Stat_t
	unix.Stat(dst, &st)
	if used := st.Blocks * 512; used > 8<<20 {
		t.Errorf("copy uses %d bytes on disk, want about %d", used, n)
	}
	if _, err := copySparse(src, dst); err == nil {
		t.Error("copySparse over an existing file: no error")
	}
}
