package rest_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/volant-sh/volant/rest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFileMistakesAre4xxAndNotErrors: a name over 255 bytes, a symlink
// loop or a file used as a directory is the caller's mistake: a 4xx with
// a hint, not a 502, and nothing logged at ERROR.
func TestFileMistakesAre4xxAndNotErrors(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, func(o *rest.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	id := e.sandbox(t)
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, route, path, hint string
	}{
		{"long name", "GET", "files", "/root/" + strings.Repeat("n", 300), "at most 255 bytes"},
		{"long name stat", "GET", "files/stat", dir + "/" + strings.Repeat("n", 256), "at most 255 bytes"},
		{"symlink loop", "GET", "files", loop + "/x", "symbolic link loop"},
		{"symlink loop list", "GET", "files/list", loop, "symbolic link loop"},
		{"symlink loop tar", "GET", "files/tar", loop, "symbolic link loop"},
		{"file as directory", "GET", "files", file + "/x", "not a directory"},
		{"file as directory mkdir", "POST", "files/mkdir", file + "/x", "not a directory"}, // 409: mkdir's own answer
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.method, "/v1/sandboxes/"+id+"/"+tt.route+"?path="+url.QueryEscape(tt.path), nil)
			if resp.StatusCode >= 500 {
				t.Fatalf("status %d, want 4xx", resp.StatusCode)
			}
			status := http.StatusBadRequest
			if tt.route == "files/mkdir" {
				status = http.StatusConflict
			}
			wantProblem(t, resp, status, tt.hint)
		})
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("client mistakes logged as errors:\n%s", logs.String())
	}
}
