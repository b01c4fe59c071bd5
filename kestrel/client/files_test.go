package client

import (
	"io/fs"
	"testing"
)

func TestModeString(t *testing.T) {
	tests := []struct {
		mode fs.FileMode
		want string
	}{
		{0o644, "0644"},
		{0o7, "0007"},
		{0o755 | fs.ModeSetuid, "4755"},
		{0o775 | fs.ModeSetgid, "2775"},
		{0o777 | fs.ModeSticky, "1777"},
		{0o644 | fs.ModeDir, "0644"},
	}
	for _, tt := range tests {
		if got := modeString(tt.mode); got != tt.want {
			t.Errorf("modeString(%v) = %q, want %q", tt.mode, got, tt.want)
		}
	}
}

func TestFileInfoFileMode(t *testing.T) {
	tests := []struct {
		bits uint32
		want fs.FileMode
	}{
		{0o100644, 0o644},
		{0o040755, fs.ModeDir | 0o755},
		{0o120777, fs.ModeSymlink | 0o777},
		{0o104755, fs.ModeSetuid | 0o755},
		{0o041777, fs.ModeDir | fs.ModeSticky | 0o777},
		{0o020620, fs.ModeDevice | fs.ModeCharDevice | 0o620},
		{0o010600, fs.ModeNamedPipe | 0o600},
	}
	for _, tt := range tests {
		fi := FileInfo{ModeBits: tt.bits}
		if got := fi.FileMode(); got != tt.want {
			t.Errorf("FileMode(%o) = %v, want %v", tt.bits, got, tt.want)
		}
	}
}
