package plugins_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
)

// TestSourceHostFilesRefused is the regression test of a caller reading host
// files through artifacts: a path outside the plugin directories is refused
// with one message whether or not it exists, and a wrong digest never tells
// the file's real digest.
func TestSourceHostFilesRefused(t *testing.T) {
	e := newEnv(t)
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:$6$secret:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A symlink inside the plugin directory that leads out of it.
	if err := os.Symlink(secret, filepath.Join(e.src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/shadow", filepath.Join(e.src, "etc-link")); err != nil {
		t.Fatal(err)
	}
	refused := func(src string) string {
		m := e.manifest("echo", "server bytes")
		m["artifacts"] = append(m["artifacts"].([]any), map[string]any{"path": "/x", "source": src, "sha256": digest("")})
		_, err := e.install(m)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("source %s: Install error = %v, want invalid", src, err)
		}
		if b := e.blobs(); len(b) != 0 {
			t.Errorf("source %s: blobs left: %v", src, b)
		}
		// The answer names the source; with it taken out, every refusal
		// must read the same.
		return strings.ReplaceAll(err.Error(), `"`+src+`"`, `"SRC"`)
	}
	want := refused("/nonexistent/shadow")
	if !strings.Contains(want, "is not a readable regular file under the daemon's plugin directories") {
		t.Errorf("refusal = %q", want)
	}
	for _, src := range []string{"/etc/shadow", "/etc/passwd", secret, e.src + "/../" + filepath.Base(filepath.Dir(secret)) + "/shadow",
		"link", e.src + "/link", "etc-link", "/proc/self/environ", e.src, "missing"} {
		if got := refused(src); got != want {
			t.Errorf("source %s answers\n%s\nwhile a missing file answers\n%s", src, got, want)
		}
	}

	// A file inside the directory with a wrong digest: the answer does not
	// tell its real digest.
	src, real := e.file("inside", "inside bytes")
	m := e.manifest("echo", "server bytes")
	m["artifacts"] = append(m["artifacts"].([]any), map[string]any{"path": "/x", "source": src, "sha256": digest("guess")})
	_, err := e.install(m)
	if err == nil || strings.Contains(err.Error(), real) {
		t.Errorf("mismatch error = %v; it must not contain the file's digest", err)
	}
	// A relative name is looked up in the directory.
	m = e.manifest("echo", "server bytes")
	m["artifacts"] = append(m["artifacts"].([]any), map[string]any{"path": "/x", "source": "inside", "sha256": real})
	if _, err := e.install(m); err != nil {
		t.Errorf("install of a relative source: %v", err)
	}
}

// TestSourceNoDirs: without plugin directories no host file is taken.
func TestSourceNoDirs(t *testing.T) {
	e := newEnv(t)
	r, err := plugins.Open(context.Background(), plugins.Config{Store: e.store, Dir: filepath.Join(t.TempDir(), "p")})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = r
	_, err = e.install(e.manifest("echo", "x"))
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "no plugin_dirs configured") {
		t.Errorf("Install error = %v", err)
	}
}

// TestSourceURL: URLs on loopback (the daemon's own API, a local service)
// are refused by address; a URL the rules allow is fetched and verified.
func TestSourceURL(t *testing.T) {
	body := "fetched bytes"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			_, _ = w.Write([]byte(body))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t)
	install := func(src, sum string) error {
		m := e.manifest("echo", "server bytes")
		m["artifacts"] = append(m["artifacts"].([]any), map[string]any{"path": "/x", "source": src, "sha256": sum})
		_, err := e.install(m)
		return err
	}
	for _, src := range []string{srv.URL + "/file", "http://localhost:1/", "http://[::1]:1/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1:1/"} {
		err := install(src, digest(body))
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "artifact URLs must be on public addresses") {
			t.Errorf("source %s: Install error = %v, want a refusal by address", src, err)
		}
	}

	// Tests can only reach loopback: let it through, standing for a
	// public server.
	plugins.SetAllowDial(t, func(netip.Addr) error { return nil })
	if err := install(srv.URL+"/file", digest("other")); err == nil || strings.Contains(err.Error(), digest(body)) {
		t.Errorf("mismatch error = %v; it must not contain the fetched file's digest", err)
	}
	if err := install(srv.URL+"/missing", digest(body)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404 error = %v", err)
	}
	if err := install(srv.URL+"/file", digest(body)); err != nil {
		t.Errorf("install from an allowed URL: %v", err)
	}
}
