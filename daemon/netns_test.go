package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/volant-sh/volant/internal/testguest"
)

// testNS is a network namespace of the test's own, deleted when it ends.
type testNS struct {
	name string
	h    netns.NsHandle
}

// newTestNS creates a fresh network namespace with lo up, for a daemon that
// boots guests in it. It skips when namespaces cannot be made here (not
// root, no ip command) or guests must not boot (-short).
func newTestNS(t testing.TB) *testNS {
	t.Helper()
	testguest.Skip(t)
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root; run the tests as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (iproute2) is not installed (apt-get install iproute2)")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "vtest-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("opening namespace %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bringing lo up in %s: %v: %s", name, err, out)
	}
	t.Logf("namespace %s", name)
	return &testNS{name: name, h: h}
}

// run runs fn on a locked OS thread switched into the namespace, and
// switches the thread back afterwards. Sockets fn creates stay in the
// namespace for their whole life.
func (n *testNS) run(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.h); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with this goroutine.
			errc <- fmt.Errorf("switching back from %s: %w", n.name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// dial connects to addr from inside the namespace.
func (n *testNS) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.run(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// listen opens a TCP listener inside the namespace.
func (n *testNS) listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.run(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// httpClient is an HTTP client whose connections start inside the namespace.
func (n *testNS) httpClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: n.dial, DisableKeepAlives: true}}
}

// ip runs `ip -n NAME args...` and returns its output.
func (n *testNS) ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// taps lists the vt* links of the namespace.
func (n *testNS) taps(t *testing.T) []string {
	t.Helper()
	var taps []string
	for _, line := range strings.Split(n.ip(t, "-o", "link", "show"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, "vt") {
			taps = append(taps, name)
		}
	}
	return taps
}

// nsVolantd is a `volantd serve` process running inside a network
// namespace with bridge networking, reached over its state directory's
// unix socket (which works across namespaces).
type nsVolantd struct {
	t        testing.TB
	ns       *testNS
	bin      string
	stateDir string
	listen   string
	env      []string
	cmd      *exec.Cmd
	done     chan struct{}
	token    string
	client   *http.Client
	logs     *syncBuffer
}

// newNSVolantd prepares (but does not start) a daemon inside ns over a
// fresh state dir, with bridge networking on subnet as the default.
func newNSVolantd(t testing.TB, ns *testNS, listen, subnet string) *nsVolantd {
	t.Helper()
	kestrel := testguest.KestrelPath(t)
	dir, err := os.MkdirTemp("", "vdns")
	if err != nil {
		t.Fatal(err)
	}
	d := &nsVolantd{t: t, ns: ns, bin: buildVolantd(t), stateDir: dir, listen: listen, logs: &syncBuffer{}}
	d.env = append(os.Environ(),
		"VOLANT_IMAGE_DIR="+filepath.Join(testguest.CacheDir(), "images"),
		"VOLANT_KESTREL="+kestrel,
		"VOLANT_BRIDGE_NETWORK=true",
		"VOLANT_DEFAULT_NETWORK=bridge",
		"VOLANT_SUBNET="+subnet,
		"VOLANT_LOG_LEVEL=debug",
		"VOLANT_ACCEL=tcg",
		// Pooled guests hold taps of their own; the test counts taps exactly.
		"VOLANT_WARM_POOL=0",
	)
	sock := filepath.Join(dir, "volantd.sock")
	d.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", sock)
		},
	}}
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

// start runs the daemon in the namespace and waits until it answers.
func (d *nsVolantd) start() {
	d.t.Helper()
	fmt.Fprintf(d.logs, "--- volantd start\n")
	// ip netns exec execs volantd in place, so the pid is the daemon's.
	d.cmd = exec.Command("ip", "netns", "exec", d.ns.name, d.bin, "serve", "--listen", d.listen, "--state-dir", d.stateDir)
	d.cmd.Env = d.env
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(d.cmd, d.done)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := d.client.Get("http://volantd/healthz"); err == nil {
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
			d.t.Fatalf("volantd exited during start; logs:\n%s", d.logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
	d.t.Fatalf("volantd did not come up; logs:\n%s", d.logs)
}

// stop sends SIGTERM and waits for the daemon to exit (SIGKILL after 20s).
func (d *nsVolantd) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	d.cmd = nil
}

// call sends a JSON request over the unix socket and decodes the answer.
func (d *nsVolantd) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, "http://volantd"+path, rd)
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decoding %s: %v: %s", path, err, data)
		}
	}
	return nil
}

// bridgeSandbox is the part of the sandbox view these tests read.
type bridgeSandbox struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
	IP      string `json:"ip"`
	Gateway string `json:"gateway"`
	MAC     string `json:"mac"`
	PID     int    `json:"pid"`
	Boot    string `json:"boot"`
}

// execResult is the answer of POST /v1/sandboxes/{id}/exec.
type execResult struct {
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exit_code"`
}

func (d *nsVolantd) create(t *testing.T) bridgeSandbox {
	t.Helper()
	var sb bridgeSandbox
	if err := d.call(context.Background(), "POST", "/v1/sandboxes", map[string]any{"network": "bridge"}, &sb); err != nil {
		t.Fatal(err)
	}
	return sb
}

func (d *nsVolantd) get(t *testing.T, id string) bridgeSandbox {
	t.Helper()
	var sb bridgeSandbox
	if err := d.call(context.Background(), "GET", "/v1/sandboxes/"+id, nil, &sb); err != nil {
		t.Fatal(err)
	}
	return sb
}

func (d *nsVolantd) delete(t *testing.T, id string) {
	t.Helper()
	if err := d.call(context.Background(), "DELETE", "/v1/sandboxes/"+id, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// sh runs a shell line in a sandbox.
func (d *nsVolantd) sh(t *testing.T, id, line string) execResult {
	t.Helper()
	var res execResult
	if err := d.call(context.Background(), "POST", "/v1/sandboxes/"+id+"/exec", map[string]any{"cmd": []string{"sh", "-c", line}}, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func (d *nsVolantd) deleteAll() {
	if d.cmd == nil {
		return
	}
	var page struct {
		Items []bridgeSandbox `json:"items"`
	}
	ctx := context.Background()
	if err := d.call(ctx, "GET", "/v1/sandboxes?limit=1000", nil, &page); err != nil {
		return
	}
	for _, sb := range page.Items {
		_ = d.call(ctx, "DELETE", "/v1/sandboxes/"+sb.ID, nil, nil)
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's output goroutine and
// the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
