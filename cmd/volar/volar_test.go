package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestProblemDetailIsTheError(t *testing.T) {
	_, srv := newFakeAPI(t)
	code, stdout, stderr := volar(t, srv, "", "sandbox", "get", "nope")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if want := "volar: sandbox \"nope\" not found; list sandboxes with GET /v1/sandboxes\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
}

func TestHumaValidationErrorsAreListed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		w.Write([]byte(`{"title":"Unprocessable Entity","status":422,"detail":"validation failed","errors":[{"message":"expected number <= 256","location":"body.vcpus","value":999}]}`))
	}))
	defer srv.Close()
	code, _, stderr := volar(t, srv, "", "sandbox", "create", "--vcpus", "999")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if want := "volar: validation failed: body.vcpus: expected number <= 256\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

func TestTokenSources(t *testing.T) {
	_, srv := newFakeAPI(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	t.Setenv("HOME", empty)
	t.Setenv("XDG_DATA_HOME", empty)
	t.Setenv("VOLANT_ADDR", srv.URL)
	old := systemTokenFile
	systemTokenFile = filepath.Join(empty, "none")
	t.Cleanup(func() { systemTokenFile = old })
	run1 := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(args, strings.NewReader(""), &out, &errb)
		return code, errb.String()
	}

	t.Run("state dir token file", func(t *testing.T) {
		t.Setenv("VOLANT_STATE_DIR", dir)
		t.Setenv("VOLANT_TOKEN", "")
		if code, stderr := run1("sandbox", "get", "sb1"); code != 0 {
			t.Errorf("exit code = %d (%s), want 0", code, stderr)
		}
	})
	t.Run("env token", func(t *testing.T) {
		t.Setenv("VOLANT_STATE_DIR", empty)
		t.Setenv("VOLANT_TOKEN", testToken)
		if code, stderr := run1("sandbox", "get", "sb1"); code != 0 {
			t.Errorf("exit code = %d (%s), want 0", code, stderr)
		}
	})
	t.Run("flag beats env", func(t *testing.T) {
		t.Setenv("VOLANT_STATE_DIR", empty)
		t.Setenv("VOLANT_TOKEN", "vol_wrong")
		if code, stderr := run1("sandbox", "get", "sb1", "--token", testToken); code != 0 {
			t.Errorf("exit code = %d (%s), want 0", code, stderr)
		}
	})
	t.Run("no token says where to find one", func(t *testing.T) {
		t.Setenv("VOLANT_STATE_DIR", empty)
		t.Setenv("VOLANT_TOKEN", "")
		code, stderr := run1("sandbox", "get", "sb1")
		if code != 1 {
			t.Errorf("exit code = %d, want 1", code)
		}
		if !strings.Contains(stderr, "missing or invalid bearer token") || !strings.Contains(stderr, "VOLANT_TOKEN") {
			t.Errorf("stderr = %q, want the API's detail and a hint naming VOLANT_TOKEN", stderr)
		}
	})
}

func TestUnixSocketAddr(t *testing.T) {
	f, _ := newFakeAPI(t)
	sock := filepath.Join(t.TempDir(), "volantd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("unix sockets unavailable: %v", err)
	}
	srv := &http.Server{Handler: f.handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	var out, errb bytes.Buffer
	code := run([]string{"--addr", "unix://" + sock, "--token", testToken, "-q", "sandbox", "get", "sb1"}, nil, &out, &errb)
	if code != 0 || out.String() != "sb1\n" {
		t.Errorf("got exit %d, stdout %q, stderr %q; want 0, \"sb1\\n\"", code, out.String(), errb.String())
	}
}

func TestCreateQuietPrintsOnlyTheID(t *testing.T) {
	f, srv := newFakeAPI(t)
	code, stdout, stderr := volar(t, srv, "", "sandbox", "create", "-q", "--name", "web", "--vcpus", "2", "--memory", "512",
		"--network", "user", "--env", "A=1", "--env", "B=x=y", "--label", "team=a", "--ttl", "30m", "--cold-boot")
	if code != 0 {
		t.Fatalf("exit code = %d, stderr %q", code, stderr)
	}
	if stdout != "sb_new\n" {
		t.Errorf("stdout = %q, want %q", stdout, "sb_new\n")
	}
	got, _ := json.Marshal(f.lastBody)
	want := `{"cold_boot":true,"env":{"A":"1","B":"x=y"},"labels":{"team":"a"},"memory_mib":512,"name":"web","network":"user","ttl_s":1800,"vcpus":2}`
	if string(got) != want {
		t.Errorf("request body = %s, want %s", got, want)
	}
}

func TestListJSONAndTable(t *testing.T) {
	_, srv := newFakeAPI(t)

	code, stdout, _ := volar(t, srv, "", "sandbox", "ls", "--json")
	if code != 0 {
		t.Fatalf("exit code = %d", code)
	}
	var page struct {
		Items []struct {
			ID   string         `json:"id"`
			Spec map[string]any `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &page); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if len(page.Items) != 2 || page.Items[0].ID != "sb1" || page.Items[1].ID != "sb2" || page.Items[0].Spec["memory_mib"] != 256.0 {
		t.Errorf("--json items = %+v, want sb1 and sb2 (both pages) with their fields as the API sent them", page.Items)
	}

	code, stdout, _ = volar(t, srv, "", "sandbox", "ls")
	if code != 0 {
		t.Fatalf("exit code = %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want a header and 2 rows:\n%s", len(lines), stdout)
	}
	if f := strings.Fields(lines[0]); f[0] != "ID" || f[3] != "STATE" {
		t.Errorf("header = %q, want ID NAME RUNTIME STATE ...", lines[0])
	}
	if f := strings.Fields(lines[1]); f[0] != "sb1" || f[1] != "one" || f[3] != "running" || f[4] != "10.88.0.2" {
		t.Errorf("row = %q, want sb1 one default running 10.88.0.2 ...", lines[1])
	}

	code, stdout, _ = volar(t, srv, "", "-q", "sandbox", "ls")
	if code != 0 || stdout != "sb1\nsb2\n" {
		t.Errorf("-q: exit %d, stdout %q, want ids one a line", code, stdout)
	}
}

func TestRemoveReportsEachFailure(t *testing.T) {
	_, srv := newFakeAPI(t)
	code, stdout, stderr := volar(t, srv, "", "sandbox", "rm", "sb1", "gone")
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if stdout != "sb1\n" {
		t.Errorf("stdout = %q, want the removed id", stdout)
	}
	if want := "volar: gone: sandbox \"gone\" not found\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	_, srv := newFakeAPI(t)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"sandbox"},
		{"sandbox", "get"},
		{"sandbox", "create", "--vcpus", "x"},
		{"sandbox", "create", "--network", "wifi"},
		{"exec", "sb1"},
		{"cp", "a", "b"},
		{"cat", "sb1"},
	} {
		code, stdout, stderr := volar(t, srv, "", args...)
		if code != 2 {
			t.Errorf("volar %v: exit code = %d, want 2", args, code)
		}
		if !strings.Contains(stderr, "usage: volar") {
			t.Errorf("volar %v: stderr = %q, want the usage", args, stderr)
		}
		if stdout != "" {
			t.Errorf("volar %v: stdout = %q, want nothing", args, stdout)
		}
	}
	code, stdout, _ := volar(t, srv, "", "sandbox", "create", "-h")
	if code != 0 || !strings.Contains(stdout, "--from-snapshot") {
		t.Errorf("-h: exit %d, stdout %q; want 0 and the flags", code, stdout)
	}
}

func TestExecExitCodeAndOutput(t *testing.T) {
	tests := []struct {
		name       string
		res        map[string]any
		wantCode   int
		wantStderr string
	}{
		{"success", map[string]any{"stdout": "out\n", "stderr": "", "exit_code": 0}, 0, ""},
		{"failure", map[string]any{"stdout": "out\n", "stderr": "err\n", "exit_code": 3}, 3, "err\n"},
		{"signal", map[string]any{"stdout": "out\n", "exit_code": -1, "signal": "KILL"}, 137, ""},
		{"timeout", map[string]any{"stdout": "out\n", "exit_code": -1, "signal": "KILL", "timed_out": true}, 124,
			"volar: the command timed out after 5s and was killed\n"},
		{"truncated", map[string]any{"stdout": "out\n", "exit_code": 0, "stdout_truncated": true}, 0,
			"volar: stdout was truncated at 1 MiB; raise --max-output, use --stream, or write to a file and 'volar cp' it\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFakeAPI(t)
			f.exec = tt.res
			code, stdout, stderr := volar(t, srv, "input", "exec", "--env", "A=1", "sb1", "--cwd", "/tmp", "--timeout", "5s", "--stdin", "--",
				"sh", "-c", "echo $A", "--not-a-volar-flag")
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			if stdout != "out\n" {
				t.Errorf("stdout = %q, want %q", stdout, "out\n")
			}
			if stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
			got, _ := json.Marshal(f.lastBody)
			want := `{"cmd":["sh","-c","echo $A","--not-a-volar-flag"],"cwd":"/tmp","env":{"A":"1"},"stdin":"input","timeout_s":5}`
			if string(got) != want {
				t.Errorf("request body = %s, want %s", got, want)
			}
		})
	}
}

func TestExecCommandFlagsWithoutDashes(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.exec = map[string]any{"exit_code": 0}
	if code, _, stderr := volar(t, srv, "", "exec", "sb1", "ls", "-la", "/"); code != 0 {
		t.Fatalf("exit code = %d, stderr %q", code, stderr)
	}
	got, _ := json.Marshal(f.lastBody["cmd"])
	if want := `["ls","-la","/"]`; string(got) != want {
		t.Errorf("cmd = %s, want %s", got, want)
	}
}

func TestExecJSONKeepsExitCode(t *testing.T) {
	f, srv := newFakeAPI(t)
	f.exec = map[string]any{"stdout": "x", "exit_code": 7}
	code, stdout, _ := volar(t, srv, "", "--json", "exec", "sb1", "false")
	if code != 7 {
		t.Errorf("exit code = %d, want 7", code)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res["exit_code"] != 7.0 {
		t.Errorf("stdout = %q, want the API's result as JSON", stdout)
	}
}

func TestCopyRoundTrip(t *testing.T) {
	f, srv := newFakeAPI(t)
	dir := t.TempDir()

	// A file, onto an existing directory: it keeps its name and mode.
	src := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(src, []byte("hello, sandbox\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := volar(t, srv, "", "cp", "-q", src, "sb1:/root"); code != 0 {
		t.Fatalf("cp up: exit %d, %s", code, stderr)
	}
	if got := string(f.files["sb1:/root/hello.txt"]); got != "hello, sandbox\n" {
		t.Fatalf("uploaded content = %q", got)
	}
	back := filepath.Join(dir, "back.txt")
	if code, _, stderr := volar(t, srv, "", "cp", "sb1:/root/hello.txt", back); code != 0 {
		t.Fatalf("cp down: exit %d, %s", code, stderr)
	}
	if b, err := os.ReadFile(back); err != nil || string(b) != "hello, sandbox\n" {
		t.Errorf("downloaded %q, %v; want the uploaded content", b, err)
	}
	if fi, err := os.Stat(back); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("downloaded mode = %v, want 0640 as the guest reported", fi.Mode().Perm())
	}
	if code, stdout, _ := volar(t, srv, "", "cat", "sb1:/root/hello.txt"); code != 0 || stdout != "hello, sandbox\n" {
		t.Errorf("cat: exit %d, stdout %q", code, stdout)
	}
	if code, stdout, _ := volar(t, srv, "", "cp", "sb1:/root/hello.txt", "-"); code != 0 || stdout != "hello, sandbox\n" {
		t.Errorf("cp to -: exit %d, stdout %q", code, stdout)
	}

	// A directory tree, through the tar routes.
	tree := filepath.Join(dir, "tree")
	for p, content := range map[string]string{"a.txt": "A", "sub/b.txt": "B", "sub/deeper/c.txt": "C"} {
		full := filepath.Join(tree, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := volar(t, srv, "", "cp", tree, "sb1:/work")
	if code != 0 {
		t.Fatalf("cp dir up: exit %d, %s", code, stderr)
	}
	if !strings.Contains(stdout, "3 files, 2 directories") {
		t.Errorf("cp dir up said %q, want the counts", stdout)
	}
	if got := string(f.files["sb1:/work/sub/deeper/c.txt"]); got != "C" {
		t.Errorf("uploaded c.txt = %q, want C", got)
	}
	out := filepath.Join(dir, "out")
	if code, _, stderr := volar(t, srv, "", "cp", "sb1:/work", out); code != 0 {
		t.Fatalf("cp dir down: exit %d, %s", code, stderr)
	}
	for p, want := range map[string]string{"a.txt": "A", "sub/b.txt": "B", "sub/deeper/c.txt": "C"} {
		b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}

	// A missing path is the API's error.
	code, _, stderr = volar(t, srv, "", "cp", "sb1:/nope", filepath.Join(dir, "x"))
	if code != 1 || stderr != "volar: no such file: /nope\n" {
		t.Errorf("missing: exit %d, stderr %q", code, stderr)
	}
}

func TestExtractTarStaysInside(t *testing.T) {
	var buf bytes.Buffer
	// writeTar of a tree with a symlink pointing out, then an archive
	// that writes through such a link: both must stay inside.
	src := t.TempDir()
	os.Symlink("/etc", filepath.Join(src, "escape"))
	if err := writeTar(&buf, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if _, _, err := extractTar(&buf, dst); err != nil {
		t.Fatalf("a symlink entry alone is fine: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(dst, "escape")); err != nil || target != "/etc" {
		t.Errorf("symlink = %q, %v; want /etc", target, err)
	}
	buf.Reset()
	tw := newTarWriter(&buf)
	tw.file("escape/volar-test-file", "pwned")
	tw.close()
	if _, _, err := extractTar(&buf, dst); err == nil {
		t.Errorf("writing through a symlink out of the target succeeded")
	}
	buf.Reset()
	tw = newTarWriter(&buf)
	tw.file("../outside", "pwned")
	tw.close()
	if _, _, err := extractTar(&buf, dst); err == nil {
		t.Errorf("a ../ name was extracted")
	}
}

func TestEventsPrintsOneJSONLinePerEvent(t *testing.T) {
	_, srv := newFakeAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &lineWriter{want: 2, done: cancel}
	var errb bytes.Buffer
	code := runContext(ctx, []string{"--addr", srv.URL, "--token", testToken, "events", "--type", "sandbox.*", "--since", "0"}, nil, w, &errb)
	if code != 0 {
		t.Errorf("exit code = %d, stderr %q", code, errb.String())
	}
	lines := w.lines()
	if len(lines) < 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	for i, l := range lines[:2] {
		var ev struct {
			Seq   int64  `json:"seq"`
			Type  string `json:"type"`
			Types string `json:"types"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Seq != int64(i+1) || ev.Types != "sandbox.*" {
			t.Errorf("line %d = %q (%v), want event %d with the type filter passed", i, l, err, i+1)
		}
	}
}

// lineWriter collects lines and calls done once it has want of them.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want int
	done func()
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Count(w.buf.String(), "\n") >= w.want {
		w.done()
	}
	return len(p), nil
}

func (w *lineWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Split(strings.TrimSpace(w.buf.String()), "\n")
}
