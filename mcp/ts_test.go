package mcp

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/internal/testguest"
)

// tsClient prepares the TypeScript client test (test/mcp-ts) next to its
// node_modules in .cache/mcp-ts and returns the script's path. It skips
// only when node is missing.
func tsClient(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the TypeScript client test needs Node 18+ and npm")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "test", "mcp-ts")
	dir := filepath.Join(root, ".cache", "mcp-ts")
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
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		// ES modules ignore NODE_PATH: the script runs next to node_modules.
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--prefix", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return filepath.Join(dir, "client.mjs")
}

func runNode(t *testing.T, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	if !strings.Contains(out.String(), "ok ") {
		t.Fatalf("node %s did not finish:\n%s", strings.Join(args, " "), out.String())
	}
}

// TestTypeScriptClientHTTP runs the TypeScript client over streamable HTTP
// against this package's server on the fake engine (real kestrel handlers
// on this host), with bearer-token auth as the daemon mounts it.
func TestTypeScriptClientHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the Node client")
	}
	script := tsClient(t)
	eng := newFakeEngine(t)
	s := New(Options{Manager: eng, Events: feedOf(eng)})
	defer s.Close()
	const token = "ts-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		s.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	runNode(t, []string{"VOLANT_TOKEN=" + token}, script, "http", srv.URL+"/mcp")
}

// buildVolantd builds cmd/volantd into a temporary bin/ and skips when the
// daemon has no mcp command yet.
func buildVolantd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin", "volantd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/volantd").CombinedOutput(); err != nil {
		t.Skipf("cmd/volantd does not build yet (the daemon's commands are the lead's): %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "mcp", "--help").CombinedOutput(); err != nil && !strings.Contains(string(out), "state-dir") {
		t.Skipf("volantd has no mcp command yet: %v\n%s", err, out)
	}
	return bin
}

// TestTypeScriptClientVolantd runs the TypeScript client against a real
// volantd: over stdio (volantd mcp), then over streamable HTTP with the
// token of a running daemon (volantd serve), which volantd mcp would also
// bridge to. It needs a guest image, QEMU and the daemon's commands.
func TestTypeScriptClientVolantd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping guest boots")
	}
	script := tsClient(t)
	volantd := buildVolantd(t)
	kestrel := testguest.KestrelPath(t)
	// A short state dir: unix socket paths are limited to 108 bytes.
	stateDir, err := os.MkdirTemp("", "vmcp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(stateDir) })
	// The daemon uses the test image cache and user-mode networking: a
	// test never touches the host's network.
	env := []string{
		"VOLANT_IMAGE_DIR=" + filepath.Join(testguest.CacheDir(), "images"),
		"VOLANT_KESTREL=" + kestrel,
		"VOLANT_BRIDGE_NETWORK=false",
		"VOLANT_DEFAULT_NETWORK=user",
		"VOLANT_ACCEL=tcg",
		"VOLANT_TEMPLATES=false",
	}
	t.Run("stdio", func(t *testing.T) {
		runNode(t, env, script, "stdio", volantd, stateDir)
	})
	t.Run("http", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		daemon := exec.CommandContext(ctx, volantd, "serve", "--listen", addr, "--state-dir", stateDir)
		daemon.Env = append(os.Environ(), env...)
		daemon.Stderr = os.Stderr
		if err := daemon.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = daemon.Wait(); close(exited) }()
		defer func() { <-exited }()
		defer daemon.Process.Signal(os.Interrupt)
		var token []byte
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if token, err = os.ReadFile(filepath.Join(stateDir, "token")); err == nil {
				if c, err := net.Dial("tcp", addr); err == nil {
					c.Close()
					break
				}
			}
			select {
			case <-exited:
				t.Fatal("volantd serve exited")
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("volantd serve did not come up in two minutes")
			}
			time.Sleep(50 * time.Millisecond)
		}
		runNode(t, []string{"VOLANT_TOKEN=" + strings.TrimSpace(string(token))}, script, "http", "http://"+addr+"/mcp")
		// volantd mcp on the same state dir now bridges to the daemon.
		runNode(t, env, script, "stdio", volantd, stateDir)
	})
}
