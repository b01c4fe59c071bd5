package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/volant-sh/volant/internal/testguest"
)

// volantd is a daemon process under test, reached over REST on loopback.
type volantd struct {
	t        *testing.T
	bin      string
	stateDir string
	addr     string
	env      []string
	cmd      *exec.Cmd
	// done is closed when cmd has exited.
	done  chan struct{}
	token string
	logs  *bytes.Buffer
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildVolantd builds cmd/volantd once per test binary.
func buildVolantd(t testing.TB) string {
	buildOnce.Do(func() {
		binPath = filepath.Join(testguest.CacheDir(), "volantd-under-test")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/volant-sh/volant/cmd/volantd")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build volantd: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// newVolantd prepares (but does not start) a daemon over a fresh state dir
// with user-mode networking and the shared test image cache.
func newVolantd(t *testing.T) *volantd {
	t.Helper()
	kestrel := testguest.KestrelPath(t)
	dir, err := os.MkdirTemp("", "vd")
	if err != nil {
		t.Fatal(err)
	}
	d := &volantd{t: t, bin: buildVolantd(t), stateDir: dir, addr: freeAddr(t), logs: &bytes.Buffer{}}
	d.env = append(os.Environ(),
		"VOLANT_IMAGE_DIR="+filepath.Join(testguest.CacheDir(), "images"),
		"VOLANT_KESTREL="+kestrel,
		"VOLANT_BRIDGE_NETWORK=false",
		"VOLANT_DEFAULT_NETWORK=user",
		"VOLANT_LOG_LEVEL=debug",
		// The accelerator probe has its own tests; here it would only add
		// seconds to every daemon start.
		"VOLANT_ACCEL=tcg",
		// Template builds run in the background and would add VMMs the
		// tests do not own; the engine's template tests cover them.
		"VOLANT_TEMPLATES=false",
	)
	t.Cleanup(func() {
		d.deleteAll()
		d.stop()
		killVMMs(dir)
		_ = os.RemoveAll(dir)
		if t.Failed() {
			t.Logf("volantd logs:\n%s", d.logs)
		}
	})
	return d
}

func (d *volantd) start() {
	d.t.Helper()
	fmt.Fprintf(d.logs, "--- volantd start\n")
	d.cmd = exec.Command(d.bin, "serve", "--listen", d.addr, "--state-dir", d.stateDir)
	d.cmd.Env = d.env
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	// Watch the process, so a daemon that exits at once fails the test at
	// once instead of after the deadline.
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(d.cmd, d.done)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + d.addr + "/healthz"); err == nil {
			resp.Body.Close()
			tok, err := os.ReadFile(filepath.Join(d.stateDir, "token"))
			if err != nil {
				d.t.Fatal(err)
			}
			d.token = strings.TrimSpace(string(tok))
			return
		}
		select {
		case <-d.done:
			d.cmd = nil
			d.t.Fatalf("volantd exited during start (%v); logs:\n%s", d.exit(), d.logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
	d.t.Fatalf("volantd did not come up; logs:\n%s", d.logs)
}

// exit says how the last daemon process ended.
func (d *volantd) exit() string {
	if d.cmd == nil || d.cmd.ProcessState == nil {
		return "still running"
	}
	return d.cmd.ProcessState.String()
}

// kill ends the daemon with SIGKILL, as a crash would, and waits until the
// process is gone.
func (d *volantd) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		<-d.done
		d.cmd = nil
	}
}

// stop sends SIGTERM and waits for the daemon to exit (SIGKILL after 20s).
func (d *volantd) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		d.cmd = nil
	}
}

// call sends a JSON request and decodes a JSON answer into out.
func (d *volantd) call(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+d.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decoding %s: %v: %s", path, err, data)
		}
	}
	return resp.StatusCode, nil
}

type sandboxJSON struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	PID    int    `json:"pid"`
}

func (d *volantd) list(t *testing.T) []sandboxJSON {
	t.Helper()
	var page struct {
		Items []sandboxJSON `json:"items"`
	}
	if _, err := d.call(context.Background(), "GET", "/v1/sandboxes?limit=1000", nil, &page); err != nil {
		t.Fatal(err)
	}
	return page.Items
}

func (d *volantd) deleteAll() {
	if d.cmd == nil {
		return
	}
	var page struct {
		Items []sandboxJSON `json:"items"`
	}
	ctx := context.Background()
	if _, err := d.call(ctx, "GET", "/v1/sandboxes?limit=1000", nil, &page); err != nil {
		return
	}
	for _, sb := range page.Items {
		_, _ = d.call(ctx, "DELETE", "/v1/sandboxes/"+sb.ID, nil, nil)
	}
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// vmmsOf lists pids of processes whose command line names dir.
func vmmsOf(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, []byte("qemu")) && bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func killVMMs(dir string) {
	for _, pid := range vmmsOf(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func TestServeCreateExecDelete(t *testing.T) {
	d := newVolantd(t)
	d.start()
	ctx := context.Background()
	var sb sandboxJSON
	if _, err := d.call(ctx, "POST", "/v1/sandboxes", map[string]any{"network": "user"}, &sb); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Stdout   string `json:"stdout"`
		ExitCode int    `json:"exit_code"`
	}
	if _, err := d.call(ctx, "POST", "/v1/sandboxes/"+sb.ID+"/exec", map[string]any{"cmd": []string{"echo", "hello"}}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "hello\n" || res.ExitCode != 0 {
		t.Fatalf("exec = %+v", res)
	}
	if _, err := d.call(ctx, "DELETE", "/v1/sandboxes/"+sb.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if pids := vmmsOf(d.stateDir); len(pids) != 0 {
		t.Fatalf("VMMs left after delete: %v", pids)
	}
}

// TestCrashDuringCreates kills volantd with SIGKILL while ten creates are
// in flight, restarts it, and checks that every sandbox is running and
// usable or failed with a reason, and that deleting them leaks nothing.
func TestCrashDuringCreates(t *testing.T) {
	d := newVolantd(t)
	d.start()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = d.call(ctx, "POST", "/v1/sandboxes", map[string]any{"network": "user"}, nil)
		}()
	}
	// Let some creates get as far as booting, then crash.
	deadline := time.Now().Add(60 * time.Second)
	for len(vmmsOf(d.stateDir)) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	d.kill()
	cancel()
	wg.Wait()

	d.start()
	sbs := d.list(t)
	if len(sbs) == 0 {
		t.Fatal("no sandboxes recorded before the crash")
	}
	running := 0
	for _, sb := range sbs {
		switch sb.State {
		case "running":
			running++
			var res struct {
				ExitCode int `json:"exit_code"`
			}
			if _, err := d.call(context.Background(), "POST", "/v1/sandboxes/"+sb.ID+"/exec", map[string]any{"cmd": []string{"true"}}, &res); err != nil {
				t.Errorf("adopted sandbox %s is not usable: %v", sb.ID, err)
			}
		case "failed":
			if sb.Reason == "" {
				t.Errorf("sandbox %s failed without a reason", sb.ID)
			}
		default:
			t.Errorf("sandbox %s is %s after recovery; want running or failed", sb.ID, sb.State)
		}
	}
	t.Logf("after the crash: %d sandboxes, %d running", len(sbs), running)
	// Every VMM belongs to a running sandbox.
	if got := len(vmmsOf(d.stateDir)); got != running {
		t.Errorf("%d VMMs run for %d running sandboxes", got, running)
	}
	d.deleteAll()
	if pids := vmmsOf(d.stateDir); len(pids) != 0 {
		t.Errorf("VMMs left after deleting everything: %v", pids)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.stateDir, "vms")); len(ents) != 0 {
		t.Errorf("vm dirs left after deleting everything: %d", len(ents))
	}
}
