package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestCheckStatic(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	tests := []struct {
		name, path string
		ok         bool
	}{
		{"dynamic", "/bin/ls", false},
		{"script", notELF, false},
		{"missing", "/nonexistent/busybox", false},
	}
	if _, err := os.Stat(DefaultBusyboxPath); err == nil {
		tests = append(tests, struct {
			name, path string
			ok         bool
		}{"busybox-static", DefaultBusyboxPath, true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkStatic("busybox", tt.path)
			if tt.ok && err != nil {
				t.Errorf("checkStatic(%s) = %v, want nil", tt.path, err)
			}
			if !tt.ok && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("checkStatic(%s) = %v, want ErrInvalidArgument", tt.path, err)
			}
		})
	}
}

func TestBusybox(t *testing.T) {
	if err := checkStatic("busybox", DefaultBusyboxPath); err != nil {
		t.Skipf("no static busybox at %s (install busybox-static): %v", DefaultBusyboxPath, err)
	}
	v, err := busyboxVersion(context.Background(), DefaultBusyboxPath)
	if err != nil || !strings.HasPrefix(v, "v1.") {
		t.Errorf("busyboxVersion = %q, %v; want v1.*", v, err)
	}
	apps, err := busyboxApplets(context.Background(), DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bin/sh", "bin/ls", "bin/mount"} {
		if !slices.Contains(apps, want) {
			t.Errorf("applets lack %s", want)
		}
	}
}
