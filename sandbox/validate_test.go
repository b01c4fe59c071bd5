package sandbox

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestModeParse(t *testing.T) {
	tests := []struct {
		in      Mode
		want    fs.FileMode
		set, ok bool
	}{
		{"", 0, false, true},
		{"0000", 0, true, true},
		{"0644", 0o644, true, true},
		{"755", 0o755, true, true},
		{"4755", 0o755 | fs.ModeSetuid, true, true},
		{"1777", 0o777 | fs.ModeSticky, true, true},
		{"rwx", 0, false, false},
		{"10000", 0, false, false},
		{"-1", 0, false, false},
	}
	for _, tt := range tests {
		got, set, err := tt.in.Parse()
		if (err == nil) != tt.ok || got != tt.want || set != tt.set {
			t.Errorf("Mode(%q).Parse() = %v, %v, %v; want %v, %v, ok %v", tt.in, got, set, err, tt.want, tt.set, tt.ok)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Mode(%q): error %v is not invalid-argument", tt.in, err)
		}
	}
}

func TestRequestBounds(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	tests := []struct {
		name string
		err  error
		want string // "" means valid
	}{
		{"idle timeout that would overflow", Spec{IdleTimeoutSeconds: 1<<63 - 1}.Validate(Limits{}), "idle_timeout_s"},
		{"ttl above ten years", Spec{TTLSeconds: MaxDurationSeconds + 1}.Validate(Limits{}), "ttl_s"},
		{"memory with no limit configured", Spec{MemoryMiB: 64}.Validate(Limits{}), "memory_mib 64: must be at least 128"},
		{"fork of 101", ForkRequest{Count: 101}.Validate(), "between 1 and 100"},
		{"fork of 0 means 1", ForkRequest{}.Validate(), ""},
		{"remove the root", RemoveFileRequest{Path: "//"}.Validate(), "refusing to remove the root"},
		{"relative path", FileRequest{Path: "etc"}.Validate(), "must be absolute"},
		{"long path", FileRequest{Path: "/" + long}.Validate(), "longer than 4096"},
		{"name over 255 bytes", FileRequest{Path: "/root/" + strings.Repeat("n", 256) + "/x"}.Validate(), "is 256 bytes; each name in a path is at most 255"},
		{"name of 255 bytes", FileRequest{Path: "/root/" + strings.Repeat("n", 255)}.Validate(), ""},
		{"inline write too large", WriteFileRequest{Path: "/x", Content: make([]byte, MaxInlineWriteBytes+1)}.Validate(), "write large files in parts"},
		{"long id", validateRef("sandbox id", long), "1048576 bytes is longer than 128"},
		{"wait above a minute", ReadProcessRequest{ProcessID: "p1", WaitSeconds: 61}.Validate(), "wait_s 61"},
		{"exec timeout that would overflow", ExecRequest{Cmd: []string{"true"}, Timeout: Seconds(1 << 62)}.Validate(), "timeout_s"},
		{"list limit", ListOptions{Limit: 1001}.Validate(), "limit 1001"},
	}
	for _, tt := range tests {
		switch {
		case tt.want == "" && tt.err != nil:
			t.Errorf("%s: %v, want valid", tt.name, tt.err)
		case tt.want != "" && (tt.err == nil || !strings.Contains(tt.err.Error(), tt.want)):
			t.Errorf("%s: %v, want an error with %q", tt.name, tt.err, tt.want)
		case tt.err != nil && len(tt.err.Error()) > 300:
			t.Errorf("%s: a message of %d bytes echoes the input", tt.name, len(tt.err.Error()))
		}
	}
}
