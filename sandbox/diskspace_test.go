package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestDataDisksAreBudgetedAgainstFreeSpace(t *testing.T) {
	tests := []struct {
		name   string
		mib    int
		free   int64
		exceed bool
	}{
		{"no disk", 0, 0, false},
		{"fits", 1024, 4096, false},
		{"fits the reserve exactly", 1024, 1024 + DiskReserveMiB, false},
		{"over the free space", 1 << 20, 4096, true},
		{"into the reserve", 1024, 1023 + DiskReserveMiB, true},
		{"a full disk", 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Manager{cfg: Config{StateDir: t.TempDir()}, freeMiB: func(string) (int64, error) { return tt.free, nil }}
			err := m.checkDiskSpace(tt.mib)
			if !tt.exceed {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrResourceExhausted) || !strings.Contains(err.Error(), "MiB free") {
				t.Errorf("got %v, want a resource-exhausted error saying how much is free", err)
			}
		})
	}
}

func TestFreeSpaceOfTheStateDir(t *testing.T) {
	n, err := freeMiB(t.TempDir())
	if err != nil || n < 0 {
		t.Fatalf("freeMiB: %d, %v", n, err)
	}
	m := &Manager{cfg: Config{StateDir: t.TempDir()}}
	// More than any file system here holds: refused by the real statfs.
	if err := m.checkDiskSpace(1 << 40); !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Errorf("a 1 EiB disk: got %v, want resource exhausted", err)
	}
}
