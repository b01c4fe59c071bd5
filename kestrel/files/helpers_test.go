package files_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/files"
)

// newClient serves the file routes on a loopback listener and returns a
// real agent client for them.
func newClient(tb testing.TB) *client.Client {
	tb.Helper()
	mux := http.NewServeMux()
	files.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	c := client.New(func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	})
	tb.Cleanup(func() {
		c.CloseIdle()
		srv.Close()
		<-done
	})
	return c
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
