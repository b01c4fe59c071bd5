package files_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/files"
)

// newClient serves the file routes on a loopback listener and returns a
// real agent client for them.
func newClient(tb testing.TB) *client.Client {
	tb.Helper()
	mux := http.NewServeMux()
	files.Register(mux)
	return clienttest.Serve(tb, mux).Client
}

// wantAgentError checks that err is an agent answer with status and a
// message containing substr.
func wantAgentError(t *testing.T, err error, status int, substr string) {
	t.Helper()
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want an agent error with status %d", err, err, status)
	}
	if ae.Status != status || !strings.Contains(ae.Message, substr) {
		t.Fatalf("error = %d %q, want %d containing %q", ae.Status, ae.Message, status, substr)
	}
}

// writeFile creates a file below dir with its parents.
func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
