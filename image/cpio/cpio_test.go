package cpio

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var sample = []Entry{
	{Name: "bin", Mode: TypeDir | 0o755},
	{Name: "bin/busybox", Mode: TypeRegular | 0o755, Data: []byte("\x7fELF not really")},
	{Name: "bin/sh", Mode: TypeSymlink | 0o777, Data: []byte("/bin/busybox")},
	{Name: "dev", Mode: TypeDir | 0o755},
	{Name: "dev/console", Mode: TypeChar | 0o600, RDevMajor: 5, RDevMinor: 1},
	{Name: "empty", Mode: TypeRegular | 0o644},
	{Name: "home/sandbox", Mode: TypeDir | 0o755, UID: 1000, GID: 1000},
	{Name: "tmp", Mode: TypeDir | 0o1777},
	{Name: "odd", Mode: TypeRegular | 0o600, Data: []byte("abc"), MTime: 7},
}

func archive(t *testing.T, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range entries {
		if err := w.Write(e); err != nil {
			t.Fatalf("Write(%s): %v", e.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := archive(t, sample)
	if len(data)%512 != 0 {
		t.Errorf("archive length %d is not a multiple of 512", len(data))
	}
	r := NewReader(bytes.NewReader(data))
	var got []Entry
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, *e)
	}
	norm := func(es []Entry) []Entry {
		out := make([]Entry, len(es))
		for i, e := range es {
			if len(e.Data) == 0 {
				e.Data = nil
			}
			out[i] = e
		}
		return out
	}
	if diff := cmp.Diff(norm(sample), norm(got)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestDeterministic(t *testing.T) {
	if a, b := archive(t, sample), archive(t, sample); !bytes.Equal(a, b) {
		t.Error("two archives of the same entries differ")
	}
}

func TestWriteRejects(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"empty name", Entry{Mode: TypeDir | 0o755}},
		{"absolute", Entry{Name: "/bin", Mode: TypeDir | 0o755}},
		{"trailer", Entry{Name: "TRAILER!!!", Mode: TypeRegular}},
		{"dir with data", Entry{Name: "d", Mode: TypeDir | 0o755, Data: []byte("x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWriter(io.Discard)
			if err := w.Write(tt.e); err == nil {
				t.Errorf("Write(%+v) = nil, want an error", tt.e)
			}
		})
	}
}

// TestCpioTool checks the archive with GNU cpio when it is installed.
func TestCpioTool(t *testing.T) {
	path, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio(1) not installed")
	}
	cmd := exec.Command(path, "-t", "-v", "--quiet")
	cmd.Stdin = bytes.NewReader(archive(t, sample))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(sample) {
		t.Fatalf("cpio -t listed %d entries, want %d:\n%s", len(lines), len(sample), out)
	}
	for i, l := range lines {
		if !strings.Contains(l, sample[i].Name) {
			t.Errorf("line %d = %q, want it to name %s", i, l, sample[i].Name)
		}
	}
	for _, want := range []string{"drwxrwxrwt", "crw-------", "lrwxrwxrwx", "bin/sh -> /bin/busybox"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio -t output lacks %q:\n%s", want, out)
		}
	}
}
