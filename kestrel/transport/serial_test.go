package transport

import (
	"bufio"
	"bytes"
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
	"github.com/volant-sh/volant/kestrel/client"
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
	f := openHost(t, path)
	return f, hostSession(t, f)
}

// openHost opens the host end in raw mode.
func openHost(t *testing.T, path string) *os.File {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	makeRaw(t, fd)
	return os.NewFile(uintptr(fd), path)
}

// hostSession greets the agent over f and starts a yamux client on it.
func hostSession(t *testing.T, f *os.File) *yamux.Session {
	t.Helper()
	sess, err := tryHostSession(f)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func tryHostSession(f *os.File) (*yamux.Session, error) {
	sess, _, err := watchedHostSession(f)
	return sess, err
}

// watchedHostSession is a host session whose reads watch for the agent's
// quiesce marker, as the QEMU driver's do: marked closes when it comes.
func watchedHostSession(f *os.File) (_ *yamux.Session, marked <-chan struct{}, _ error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rest, err := client.GreetSerial(ctx, f, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	cfg.StreamOpenTimeout = 2 * time.Second
	conn, marked := client.WatchQuiesced(&hostConn{f: f, rest: rest})
	sess, err := yamux.Client(conn, cfg)
	return sess, marked, err
}

// hostConn is the host end of the line as one session's connection:
// closing it interrupts its reads without closing the line, as a host
// client does over a kept connection.
type hostConn struct {
	f    *os.File
	rest []byte
}

func (c *hostConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.f.Read(p)
}

func (c *hostConn) Write(p []byte) (int, error) { return c.f.Write(p) }
func (c *hostConn) Close() error                { return c.f.SetDeadline(time.Now()) }

// closeSession ends a host session and waits until it no longer reads.
func closeSession(sess *yamux.Session, f *os.File) {
	sess.Close()
	<-sess.CloseChan()
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

// TestSerialReconnect: hosts come and go, each hanging up; each is served
// on its first try.
func TestSerialReconnect(t *testing.T) {
	l, host := newPTYPort(t)
	serveHello(t, l)
	for i := range 3 {
		f, sess := hostConnect(t, host)
		path := fmt.Sprintf("/round/%d", i)
		if got, err := get(sess, path); err != nil || got != "hello "+path {
			t.Errorf("round %d: got %q, %v; want %q", i, got, err, "hello "+path)
		}
		closeSession(sess, f)
		f.Close() // the guest reads EIO (a hang-up) and waits
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
	f, sess := hostConnect(t, host)
	defer f.Close()
	if got, err := get(sess, "/late"); err != nil || got != "hello /late" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// getFirst does GET path over a fresh host session, which must succeed.
func getFirst(t *testing.T, f *os.File, path string) string {
	t.Helper()
	sess := hostSession(t, f)
	defer closeSession(sess, f)
	got, err := get(sess, path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return got
}

// TestSerialStaleSession stands in for a snapshot restore without a
// quiesce, and for a host that reconnects before the guest saw it hang up:
// a fresh host meets a guest still holding the previous session, with a
// stream open. Its hello starts a new session: the first try succeeds.
func TestSerialStaleSession(t *testing.T) {
	l, host := newPTYPort(t)
	serveHello(t, l)
	f, old := hostConnect(t, host)
	if _, err := get(old, "/before"); err != nil {
		t.Fatal(err)
	}
	// Leave a stream open on the old session, half a frame on the line,
	// and drop the client without a word, keeping the line up.
	if _, err := old.Open(); err != nil {
		t.Fatal(err)
	}
	closeSession(old, f)
	defer f.Close()
	if got := getFirst(t, f, "/after"); got != "hello /after" {
		t.Errorf("got %q, want %q", got, "hello /after")
	}
}

// TestSerialHangupKeepsSession: the guest's session outlives a hang-up
// (the notice may come after the next host's first bytes), and a host
// that comes back with the session's client carries on.
func TestSerialHangupKeepsSession(t *testing.T) {
	l, host := newPTYPort(t)
	serveHello(t, l)
	f, sess := hostConnect(t, host)
	if _, err := get(sess, "/before"); err != nil {
		t.Fatal(err)
	}
	// Hang up under the session and come back with a new client.
	closeSession(sess, f)
	f.Close()
	f2 := openHost(t, host)
	defer f2.Close()
	if got := getFirst(t, f2, "/after"); got != "hello /after" {
		t.Errorf("got %q", got)
	}
}

// TestSerialHelloInData: a hello's bytes inside a data frame (a file that
// holds them) do not end the session; junk before a host's hello (what an
// earlier host left) is skipped.
func TestSerialHelloInData(t *testing.T) {
	l, host := newPTYPort(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })

	f := openHost(t, host)
	defer f.Close()
	if _, err := f.Write([]byte("junk\x00\x02 from an earlier host")); err != nil {
		t.Fatal(err)
	}
	sess := hostSession(t, f)
	defer closeSession(sess, f)
	body := bytes.Repeat(client.SerialHello[:], 1000)
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return sess.Open() },
	}}
	defer hc.CloseIdleConnections()
	for i := range 2 {
		resp, err := hc.Post("http://agent/echo", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("post %d: %d bytes back (%v), want the %d sent", i, len(got), err, len(body))
		}
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
// its session after the answer; once the session's streams are closed
// (the handler returned) the agent writes the quiesce marker and nothing
// more on the line, and the next host gets through on its first try.
func TestSerialEndSession(t *testing.T) {
	l, host := newPTYPort(t)
	release := make(chan struct{})
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
			<-release // a handler still returning keeps its stream open
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, ctxConn{}, c) },
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })

	f := openHost(t, host)
	defer f.Close()
	sess, marked, err := watchedHostSession(f)
	if err != nil {
		t.Fatal(err)
	}
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
	select {
	case <-marked:
		t.Fatal("the agent marked the session torn down while a handler still held its stream")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case <-marked:
	case <-time.After(time.Minute):
		t.Fatal("no quiesce marker a minute after the quiesced session's last stream closed")
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
	// Signal until it looks: a signal that comes before it sleeps is
	// dropped, since it looks once more after turning signals on.
	deadline := time.After(time.Minute / 2)
wait:
	for {
		sigio()
		select {
		case next := <-looked:
			if next != cfg.IdlePollInterval {
				t.Fatalf("a signalled listener waits %v between looks, want IdlePollInterval %v", next, cfg.IdlePollInterval)
			}
			break wait
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("SIGIO did not wake the listener")
		}
	}
	f := openHost(t, host)
	defer f.Close()
	// The host's hello signals (data on the port); a pty does not signal
	// when its other side opens, as a virtio-serial port does: stand in
	// for that too, until the host is served.
	done := make(chan string, 1)
	go func() {
		sess, err := tryHostSession(f)
		if err != nil {
			done <- err.Error()
			return
		}
		defer closeSession(sess, f)
		got, err := get(sess, "/woken")
		if err != nil {
			got = err.Error()
		}
		done <- got
	}()
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
