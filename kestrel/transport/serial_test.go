package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/hashicorp/yamux"
	"golang.org/x/sys/unix"
)

// newPTYPort returns a serial listener on a pty master, which behaves like
// a virtio-serial port: it hangs up while nobody holds the other side. The
// returned path is the pty slave, the "host" end.
func newPTYPort(t *testing.T) (*SerialListener, string) {
	t.Helper()
	return newPTYPortWith(t, SerialConfig{PollInterval: 10 * time.Millisecond}, nil)
}

func newPTYPortWith(t *testing.T, cfg SerialConfig, slowed func(time.Duration)) (*SerialListener, string) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty available: %v", err)
	}
	name := slave.Name()
	slave.Close()
	// Re-wrap a non-blocking dup so the runtime poller manages it (Fd
	// puts the original back into blocking mode).
	fd, err := unix.Dup(int(master.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	master.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	l := newSerialListener(os.NewFile(uintptr(fd), "ptmx"), cfg, slowed)
	t.Cleanup(func() { l.Close() })
	return l, name
}

// hostConnect opens the host end in raw mode and starts a yamux client.
// Closing the session leaves the line up; close the file to hang up.
func hostConnect(t *testing.T, path string) (*os.File, *yamux.Session) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	makeRaw(t, fd)
	f := os.NewFile(uintptr(fd), path)
	return f, hostSession(t, f)
}

func hostSession(t *testing.T, f *os.File) *yamux.Session {
	t.Helper()
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	cfg.StreamOpenTimeout = 2 * time.Second
	// sessionConn: closing the session interrupts its reads without
	// closing the line, as a host client does over a kept connection.
	sess, err := yamux.Client(&sessionConn{f: f}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

// closeSession ends a host session and waits until it no longer reads.
func closeSession(sess *yamux.Session, f *os.File) {
	sess.Close()
	_ = f.SetDeadline(time.Time{})
}

func makeRaw(t *testing.T, fd int) {
	t.Helper()
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN] = 1
	tio.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
}

func serveHello(t *testing.T, l net.Listener) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

func get(sess *yamux.Session, path string) (string, error) {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return sess.Open() },
	}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestSerialReconnect(t *testing.T) {
	l, host := newPTYPort(t)
	serveHello(t, l)
	for i := range 3 {
		f, sess := hostConnect(t, host)
		closeSession(sess, f)
		path := fmt.Sprintf("/round/%d", i)
		// A host that reconnects before the guest saw the hang-up meets
		// the old session; like the real host, retry with a fresh client.
		got := getRetry(t, f, path)
		if want := "hello " + path; got != want {
			t.Errorf("round %d: got %q, want %q", i, got, want)
		}
		f.Close() // the guest reads EOF (EIO on a pty) and resets
	}
}

// TestSerialSlowsWithoutHost: a listener left without a host looks at the
// port less and less often, down to IdlePollInterval, and still serves the
// host that comes at last.
func TestSerialSlowsWithoutHost(t *testing.T) {
	slowest := make(chan struct{})
	var once sync.Once
	cfg := SerialConfig{PollInterval: time.Millisecond, FastWait: 10 * time.Millisecond, IdlePollInterval: 40 * time.Millisecond}
	l, host := newPTYPortWith(t, cfg, func(next time.Duration) {
		if next > cfg.IdlePollInterval {
			t.Errorf("waits %v, more than IdlePollInterval", next)
		}
		if next == cfg.IdlePollInterval {
			once.Do(func() { close(slowest) })
		}
	})
	serveHello(t, l)
	select {
	case <-slowest:
	case <-time.After(time.Minute):
		t.Fatal("the listener never slowed down to IdlePollInterval")
	}
	f, _ := hostConnect(t, host)
	defer f.Close()
	if got := getRetry(t, f, "/late"); got != "hello /late" {
		t.Fatalf("got %q", got)
	}
}

// getRetry does GET path over fresh host sessions until one succeeds.
func getRetry(t *testing.T, f *os.File, path string) string {
	t.Helper()
	var lastErr error
	for attempt := range 20 {
		sess := hostSession(t, f)
		got, err := get(sess, path)
		closeSession(sess, f)
		if err == nil {
			if attempt > 0 {
				t.Logf("%s: got through after %d failed attempts", path, attempt)
			}
			return got
		}
		lastErr = err
	}
	t.Fatalf("%s: host never got through: %v", path, lastErr)
	return ""
}

// TestSerialStaleSession stands in for a snapshot restore: a fresh host
// client talks to a guest still holding the previous session's state. The
// guest must reset, and the host succeeds by retrying with fresh clients.
func TestSerialStaleSession(t *testing.T) {
	l, host := newPTYPort(t)
	serveHello(t, l)
	f, old := hostConnect(t, host)
	if _, err := get(old, "/before"); err != nil {
		t.Fatal(err)
	}
	// Leave a stream open on the old session and drop the client without
	// a word, keeping the line up.
	if _, err := old.Open(); err != nil {
		t.Fatal(err)
	}
	closeSession(old, f)
	defer f.Close()
	if got := getRetry(t, f, "/after"); got != "hello /after" {
		t.Errorf("got %q, want %q", got, "hello /after")
	}
}

func TestFindSerialPort(t *testing.T) {
	sys := t.TempDir()
	dev := t.TempDir()
	for name, port := range map[string]string{"vport0p1": "org.other", "vport1p1": "org.volant.agent.0"} {
		os.MkdirAll(filepath.Join(sys, name), 0o755)
		os.WriteFile(filepath.Join(sys, name, "name"), []byte(port+"\n"), 0o644)
		os.WriteFile(filepath.Join(dev, name), nil, 0o644)
	}
	got, err := FindSerialPort(sys, dev, "org.volant.agent.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dev, "vport1p1"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := FindSerialPort(sys, dev, "org.missing"); err == nil {
		t.Error("found a port that does not exist")
	}
}

// TestSerialEndSession: a stream's EndSession (the agent's quiesce) ends
// its session after the answer with nothing more on the line, and the next
// host gets through on its first try.
func TestSerialEndSession(t *testing.T) {
	l, host := newPTYPort(t)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/quiesce" {
				fmt.Fprintf(w, "hello %s", r.URL.Path)
				return
			}
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			r.Context().Value(ctxConn{}).(SessionEnder).EndSession()
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, ctxConn{}, c) },
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })

	f, sess := hostConnect(t, host)
	defer f.Close()
	st, err := sess.Open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(st, "POST /quiesce HTTP/1.1\r\nHost: agent\r\nContent-Length: 0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(st), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("quiesce: %v, %v", resp, err)
	}
	// Read the raw line from now on: the guest must send nothing more,
	// not even yamux's go-away.
	closeSession(sess, f)
	_ = f.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 64)
	if n, err := f.Read(buf); n > 0 {
		t.Errorf("the agent wrote %d bytes after quiescing: %q (%v)", n, buf[:n], err)
	}
	_ = f.SetReadDeadline(time.Time{})
	next := hostSession(t, f)
	defer closeSession(next, f)
	if got, err := get(next, "/after"); err != nil || got != "hello /after" {
		t.Errorf("first try after quiesce: %q, %v", got, err)
	}
}

type ctxConn struct{}

// TestSerialSignalWake: a listener whose device signals (SignalWake) sleeps
// while no host is connected and looks at the port again when SIGIO comes,
// not on its fallback poll: the host here is served after a SIGIO although
// the fallback is a minute away.
func TestSerialSignalWake(t *testing.T) {
	looked := make(chan time.Duration, 16)
	cfg := SerialConfig{PollInterval: time.Millisecond, IdlePollInterval: time.Minute, SignalWake: true}
	l, host := newPTYPortWith(t, cfg, func(next time.Duration) {
		select {
		case looked <- next:
		default:
		}
	})
	serveHello(t, l)
	// Without a host the listener waits for its fallback poll, a minute.
	sigio := func() {
		if err := unix.Kill(os.Getpid(), unix.SIGIO); err != nil {
			t.Fatal(err)
		}
	}
	sigio()
	select {
	case next := <-looked:
		if next != cfg.IdlePollInterval {
			t.Fatalf("a signalled listener waits %v between looks, want IdlePollInterval %v", next, cfg.IdlePollInterval)
		}
	case <-time.After(time.Minute / 2):
		t.Fatal("SIGIO did not wake the listener")
	}
	f, _ := hostConnect(t, host)
	defer f.Close()
	// A pty does not signal when its other side opens; stand in for the
	// virtio-serial port, which does. Repeat until the host is served:
	// a signal may come before the listener sleeps again.
	done := make(chan string, 1)
	go func() { done <- getRetry(t, f, "/woken") }()
	for {
		sigio()
		select {
		case got := <-done:
			if got != "hello /woken" {
				t.Fatalf("got %q", got)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
