package python

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kernel starts kernel.py with the host's python3 on a free loopback port
// and returns its base URL.
func kernel(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed (apt-get install python3)")
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"kernel.py": Kernel, "openapi.json": OpenAPI} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(py, filepath.Join(dir, "kernel.py"))
	cmd.Env = append(os.Environ(), fmt.Sprintf("KERNEL_PORT=%d", port), "PIP_INDEX_URL=http://127.0.0.1:9/simple")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("kernel stderr:\n%s", stderr.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kernel did not answer /healthz in 2 minutes: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type runResult struct {
	Stdout, Stderr string
	Result         *string
	Images         []struct {
		MimeType string `json:"mime_type"`
		Data     string
	}
	Error *struct {
		Ename, Evalue, Traceback string
	}
	Interrupt bool `json:"interrupted"`
	Timed     bool `json:"timed_out"`
	Restarted bool
}

func post(t *testing.T, url string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func run(t *testing.T, base, code string, timeout float64) runResult {
	t.Helper()
	status, data := post(t, base+"/run_code", map[string]any{"code": code, "timeout_s": timeout})
	if status != 200 {
		t.Fatalf("run_code %q: status %d: %s", code, status, data)
	}
	var r runResult
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return r
}

func TestStateAndResult(t *testing.T) {
	base := kernel(t)
	if r := run(t, base, "x = 41\nprint('hello')", 30); r.Stdout != "hello\n" || r.Result != nil || r.Error != nil {
		t.Errorf("x = 41: got %+v", r)
	}
	if r := run(t, base, "x + 1", 30); r.Result == nil || *r.Result != "42" {
		t.Errorf("x + 1: got %+v, want result 42", r)
	}
	r := run(t, base, "import sys\nsys.stderr.write('warn\\n')\n1/0", 30)
	if r.Error == nil || r.Error.Ename != "ZeroDivisionError" || !strings.Contains(r.Error.Traceback, "<code>") || r.Stderr != "warn\n" {
		t.Errorf("1/0: got %+v", r)
	}
	if strings.Contains(r.Error.Traceback, "kernel.py") {
		t.Errorf("the traceback shows the interpreter's own frames:\n%s", r.Error.Traceback)
	}
	// Output written below Python (by a child process) is captured too.
	if r := run(t, base, "import os\nos.system('echo from-shell')", 30); !strings.Contains(r.Stdout, "from-shell") {
		t.Errorf("child output: got %+v", r)
	}
}

func TestInterruptKeepsState(t *testing.T) {
	base := kernel(t)
	run(t, base, "x = 41", 30)
	r := run(t, base, "while True: pass", 2)
	if !r.Timed || !r.Interrupt || r.Error == nil || r.Error.Ename != "KeyboardInterrupt" || r.Restarted {
		t.Errorf("timeout: got %+v", r)
	}
	if r := run(t, base, "x", 30); r.Result == nil || *r.Result != "41" {
		t.Errorf("after the interrupt x is %+v, want 41", r)
	}
	// Code that ignores the interrupt is ended with its interpreter.
	r = run(t, base, "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.1)", 1)
	if !r.Restarted || r.Error == nil || r.Error.Ename != "KernelRestarted" {
		t.Errorf("ignored interrupt: got %+v", r)
	}
	if r := run(t, base, "1 + 1", 30); r.Result == nil || *r.Result != "2" {
		t.Errorf("after a forced restart: got %+v", r)
	}
}

func TestRestartClearsState(t *testing.T) {
	base := kernel(t)
	run(t, base, "x = 41", 30)
	if status, data := post(t, base+"/restart", map[string]any{}); status != 200 {
		t.Fatalf("restart: %d %s", status, data)
	}
	if r := run(t, base, "x", 30); r.Error == nil || r.Error.Ename != "NameError" {
		t.Errorf("after restart: got %+v, want NameError", r)
	}
}

func TestMatplotlibFigureIsAnImage(t *testing.T) {
	if exec.Command("python3", "-c", "import matplotlib").Run() != nil {
		t.Skip("matplotlib is not installed on this host (apt-get install python3-matplotlib)")
	}
	base := kernel(t)
	r := run(t, base, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')", 120)
	if r.Error != nil || len(r.Images) != 1 || r.Images[0].MimeType != "image/png" {
		t.Fatalf("plot: got %+v", r)
	}
	png, err := base64.StdEncoding.DecodeString(r.Images[0].Data)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("the image is not a PNG (%v)", err)
	}
	if r := run(t, base, "1", 30); len(r.Images) != 0 {
		t.Errorf("figures were not closed after being sent: %d images", len(r.Images))
	}
}

func TestStreamingOutput(t *testing.T) {
	base := kernel(t)
	b, _ := json.Marshal(map[string]any{"code": "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.05)\n'done'"})
	req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/run_code", bytes.NewReader(b))
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) < 2 {
		t.Fatalf("got %d lines: %v", len(lines), lines)
	}
	last := lines[len(lines)-1]
	if last["type"] != "result" || last["result"] != "'done'" || !strings.Contains(last["stdout"].(string), "line 2") {
		t.Errorf("last line: %v", last)
	}
	if lines[0]["type"] != "progress" || lines[0]["stream"] != "stdout" {
		t.Errorf("first line is not output: %v", lines[0])
	}
}

func TestBadInputAndInstallWithoutIndex(t *testing.T) {
	base := kernel(t)
	for _, body := range []any{map[string]any{}, map[string]any{"code": 5}, map[string]any{"code": "1", "timeout_s": 0}, []int{1}} {
		if status, data := post(t, base+"/run_code", body); status != 400 {
			t.Errorf("run_code %v: got %d %s, want 400", body, status, data)
		}
	}
	if status, data := post(t, base+"/install", map[string]any{"packages": []string{"--index-url=x"}}); status != 400 {
		t.Errorf("install of an option: got %d %s, want 400", status, data)
	}
	status, data := post(t, base+"/install", map[string]any{"packages": []string{"surely-not-a-package"}, "index_url": "http://127.0.0.1:9/simple"})
	if status != 503 || !strings.Contains(string(data), "no package index is reachable") {
		t.Errorf("install without an index: got %d %s", status, data)
	}
}
