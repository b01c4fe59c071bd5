package guesttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/volant-sh/volant/daemon"
	"github.com/volant-sh/volant/internal/testguest"
)

// The harness: one volantd in this process (templates and a warm pool
// on, no guest network), the repository's browser plugin directory laid
// out as `make build` leaves it, and REST calls with the admin token.

// env is the daemon under test and what the subtests share.
type env struct {
	d     *daemon.Daemon
	addr  string
	token string
	state string
	// plugin is the plugin directory (runtimes/browser with its
	// ../../bin/volant-browser beside it).
	plugin string
	logs   *syncBuffer
	// volarBin is the CLI, built on first use.
	volarBin string
}

// repoRoot is the module root, from this package's directory.
func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// pluginDir lays out runtimes/browser/plugin.json and the workload binary
// at ../../bin/volant-browser from it, as `make build` does in the
// repository, in a temporary tree.
func pluginDir(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	tree := t.TempDir()
	dir := filepath.Join(tree, "runtimes", "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "runtimes", "browser", "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", filepath.Join(tree, "bin", "volant-browser"), "./runtimes/browser/cmd/volant-browser")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build volant-browser: %v\n%s", err, out)
	}
	return dir
}

// startDaemon runs volantd in this process with warm pool warm.
func startDaemon(t *testing.T, warm int) *env {
	t.Helper()
	kestrel := testguest.KestrelPath(t)
	// A short state dir: unix socket paths are limited to 108 bytes.
	state, err := os.MkdirTemp("", "vbr")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{addr: l.Addr().String(), state: state, logs: &syncBuffer{}}
	cfg := daemon.Defaults()
	cfg.Listen = e.addr
	cfg.StateDir = state
	cfg.ImageDir = filepath.Join(testguest.CacheDir(), "images")
	cfg.KestrelPath = kestrel
	cfg.BridgeNetwork = false
	cfg.DefaultNetwork = "none"
	cfg.Accel = "tcg"
	cfg.Driver = "qemu"
	cfg.Templates = true
	cfg.WarmPool = warm
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	e.d, err = daemon.New(ctx, cfg, log)
	if err != nil {
		cancel()
		l.Close()
		t.Fatalf("starting volantd: %v", err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = e.d.ServeListener(ctx, l) }()
	t.Cleanup(func() {
		e.deleteAll(t)
		cancel()
		<-served
		_ = e.d.Close()
		killVMMs(state)
		_ = os.RemoveAll(state)
		if t.Failed() {
			t.Logf("volantd logs (tail):\n%s", e.logs.tail(64<<10))
		}
	})
	tok, err := os.ReadFile(daemon.TokenPath(state))
	if err != nil {
		t.Fatal(err)
	}
	e.token = strings.TrimSpace(string(tok))
	return e
}

// call sends a JSON request; it returns the status, content type and
// body, and fails the test on a transport error.
func (e *env) call(t *testing.T, method, path string, body any) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+e.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

// must is call that wants a 2xx JSON answer, decoded into out.
func (e *env) must(t *testing.T, method, path string, body, out any) {
	t.Helper()
	status, _, data := e.call(t, method, path, body)
	if status/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, status, clip(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decoding %v: %s", method, path, err, clip(data))
		}
	}
}

// action calls a browser action and decodes its JSON answer.
func (e *env) action(t *testing.T, id, name string, body map[string]any) map[string]any {
	t.Helper()
	if _, ok := body["timeout_s"]; !ok && name != "tabs" {
		body["timeout_s"] = 600 // pages load slowly under emulation
	}
	var out map[string]any
	e.must(t, "POST", "/v1/sandboxes/"+id+"/actions/browser/"+name, body, &out)
	return out
}

type sandboxJSON struct {
	ID   string `json:"id"`
	PID  int    `json:"pid"`
	Boot string `json:"boot"`
}

// create makes a browser sandbox.
func (e *env) create(t *testing.T, extra map[string]any) sandboxJSON {
	t.Helper()
	body := map[string]any{"runtime": "browser", "network": "none"}
	for k, v := range extra {
		body[k] = v
	}
	var sb sandboxJSON
	e.must(t, "POST", "/v1/sandboxes", body, &sb)
	return sb
}

func (e *env) deleteAll(t *testing.T) {
	var page struct {
		Items []sandboxJSON `json:"items"`
	}
	req, _ := http.NewRequest("GET", "http://"+e.addr+"/v1/sandboxes", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	_ = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	for _, sb := range page.Items {
		req, _ := http.NewRequest("DELETE", "http://"+e.addr+"/v1/sandboxes/"+sb.ID, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

// pssMiB is the proportional set size of a VMM process.
func pssMiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kib, _ := strconv.Atoi(f[1])
			return (kib + 1023) / 1024
		}
	}
	return -1
}

// killVMMs kills the QEMU processes left under a state dir.
func killVMMs(dir string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte("qemu")) && bytes.Contains(cmdline, []byte(dir)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// nodeScript prepares test/browser-ts next to its node_modules in
// .cache/browser-ts and returns the script's path; it skips when node or
// npm is missing.
func nodeScript(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed: the TypeScript MCP client and Playwright checks need Node 18+ and npm", bin)
		}
	}
	root := repoRoot(t)
	src := filepath.Join(root, "test", "browser-ts")
	dir := filepath.Join(root, ".cache", "browser-ts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "package-lock.json", "client.mjs"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		// ES modules ignore NODE_PATH: the script runs next to node_modules.
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--prefix", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return filepath.Join(dir, "client.mjs")
}

// node runs the script and returns its output; it fails the test unless
// the script ends with "ok".
func (e *env) node(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Env = append(os.Environ(), "VOLANT_TOKEN="+e.token)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok ") {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// syncBuffer is a log sink written by the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}
