// Package transport gives the agent's HTTP server its listeners: yamux
// streams over a virtio-serial port (QEMU without vhost-vsock), AF_VSOCK,
// and plain unix or TCP sockets for tests on the host.
package transport

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	"golang.org/x/sys/unix"
)

// FindSerialPort returns the device of the virtio-serial port called name,
// looking it up in sysfsDir (normally /sys/class/virtio-ports) and devDir
// (normally /dev). Without udev the device node comes from devtmpfs; if it
// is missing it is created from the port's dev numbers.
func FindSerialPort(sysfsDir, devDir, name string) (string, error) {
	ents, err := os.ReadDir(sysfsDir)
	if err != nil {
		return "", fmt.Errorf("listing virtio ports: %w", err)
	}
	for _, e := range ents {
		got, err := os.ReadFile(filepath.Join(sysfsDir, e.Name(), "name"))
		if err != nil || strings.TrimSpace(string(got)) != name {
			continue
		}
		dev := filepath.Join(devDir, e.Name())
		if _, err := os.Stat(dev); err == nil {
			return dev, nil
		}
		nums, err := os.ReadFile(filepath.Join(sysfsDir, e.Name(), "dev"))
		if err != nil {
			return "", fmt.Errorf("virtio port %s has no device node and no dev numbers: %w", name, err)
		}
		var major, minor uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(string(nums)), "%d:%d", &major, &minor); err != nil {
			return "", fmt.Errorf("parsing dev numbers %q of %s: %w", nums, e.Name(), err)
		}
		if err := unix.Mknod(dev, unix.S_IFCHR|0o600, int(unix.Mkdev(major, minor))); err != nil {
			return "", fmt.Errorf("creating %s: %w", dev, err)
		}
		return dev, nil
	}
	return "", fmt.Errorf("no virtio-serial port named %s under %s: %w", name, sysfsDir, os.ErrNotExist)
}

// SerialConfig configures a serial listener.
type SerialConfig struct {
	// Logger logs session starts and ends; nil discards.
	Logger *slog.Logger
	// PollInterval is how often to look for a host while none is
	// connected; 0 means 100ms. After FastWait without a host the
	// interval doubles at each look, up to IdlePollInterval.
	PollInterval time.Duration
	// FastWait is how long the listener looks every PollInterval before it
	// slows down; 0 means 2s.
	FastWait time.Duration
	// IdlePollInterval is the slowest the listener looks; 0 means 1s. A
	// guest left without a host (its engine restarting, say) then wakes
	// about once a second instead of every PollInterval: under TCG a look
	// every 5 ms cost an idle guest ~23% of a host core.
	IdlePollInterval time.Duration
	// SignalWake says the device signals (SIGIO) when a host connects, as
	// a virtio-serial port does. The listener then sleeps until that
	// signal and looks at the port only every IdlePollInterval besides, in
	// case a signal is missed; PollInterval and FastWait are not used.
	SignalWake bool
}

// SerialListener accepts yamux streams from whichever host is connected to
// a character device that hangs up (reads return 0 or EIO) while no host is
// connected: a virtio-serial port, or in tests the master side of a pty.
//
// One session runs at a time, and sessions are marked in the byte stream
// (client.SerialHello): a session starts at a host's hello and lasts until
// the next hello, a yamux protocol error, or EndSession. A hang-up does not
// end it: the port's hang-up and connect notices reach the guest on a queue
// of their own, maybe after the next host's first bytes, so a session that
// ended on a hang-up could take the next host's requests with it. Between
// sessions the listener discards everything up to the next hello.
type SerialListener struct {
	f             *os.File
	log           *slog.Logger
	poll, maxPoll time.Duration
	fastWait      time.Duration
	addr          serialAddr
	// wake receives SIGIO when SignalWake is set, else it is nil.
	wake chan os.Signal

	conns     chan net.Conn
	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	sess *yamux.Session

	// slowed, when set (tests), is called each time the listener looks
	// at the port again, with the interval it waits next.
	slowed func(next time.Duration)
}

// ListenSerial opens the device at path and serves sessions on it.
func ListenSerial(path string, cfg SerialConfig) (*SerialListener, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening agent port %s: %w", path, err)
	}
	return NewSerialListener(os.NewFile(uintptr(fd), path), cfg), nil
}

// NewSerialListener serves sessions on f, which should be non-blocking so
// that reads can be interrupted. The listener owns f and closes it.
func NewSerialListener(f *os.File, cfg SerialConfig) *SerialListener {
	return newSerialListener(f, cfg, nil)
}

func newSerialListener(f *os.File, cfg SerialConfig, slowed func(time.Duration)) *SerialListener {
	l := &SerialListener{
		slowed:   slowed,
		f:        f,
		log:      cfg.Logger,
		poll:     cfg.PollInterval,
		maxPoll:  cfg.IdlePollInterval,
		fastWait: cfg.FastWait,
		addr:     serialAddr(f.Name()),
		conns:    make(chan net.Conn),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.poll <= 0 {
		l.poll = 100 * time.Millisecond
	}
	if l.fastWait <= 0 {
		l.fastWait = 2 * time.Second
	}
	if l.maxPoll <= 0 {
		l.maxPoll = time.Second
	}
	l.maxPoll = max(l.maxPoll, l.poll)
	if cfg.SignalWake {
		l.wake = notifySIGIO()
	}
	go l.run()
	return l
}

// Accept returns the next stream opened by the host.
func (l *SerialListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closing:
		return nil, net.ErrClosed
	}
}

// Close stops serving, ends the current session and closes the device.
// It is idempotent.
func (l *SerialListener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.closing)
		_ = l.f.SetDeadline(time.Now()) // interrupts a read between sessions
		if l.sess != nil {
			l.sess.Close()
		}
		l.mu.Unlock()
		<-l.done
		l.f.Close()
	})
	return nil
}

// Addr names the device.
func (l *SerialListener) Addr() net.Addr { return l.addr }

func (l *SerialListener) run() {
	defer close(l.done)
	if l.wake != nil {
		defer signal.Stop(l.wake)
	}
	var start []byte // the bytes from a hello on, read but not yet served
	for {
		if start == nil {
			var err error
			if start, err = l.awaitHello(); err != nil {
				return
			}
		}
		next, err := l.serveSession(start)
		l.log.Debug("agent port: session ended", "port", l.f.Name(), "next_host", next != nil, "err", err)
		start = next
		select {
		case <-l.closing:
			return
		default:
		}
	}
}

// awaitHello reads the port, discarding what it reads, until a host's
// hello; it returns the bytes from the hello on.
func (l *SerialListener) awaitHello() ([]byte, error) {
	var scan helloScanner
	buf := make([]byte, 4096)
	for {
		n, err := l.read(nil, buf)
		if err != nil {
			return nil, err
		}
		if rest, ok := scan.feed(buf[:n]); ok {
			return rest, nil
		}
	}
}

// read reads the port into p. While no host is connected (a read finds the
// port hung up) it waits for one: until the port signals, or the next
// look, or stop or the listener closes (then the error is net.ErrClosed).
func (l *SerialListener) read(stop <-chan struct{}, p []byte) (int, error) {
	armed, waiting := false, false
	var waitStart time.Time
	interval := l.poll
	for {
		n, err := l.f.Read(p)
		if n > 0 {
			if armed {
				setAsync(l.f, false)
			}
			if waiting {
				l.log.Debug("agent port: a host is there", "port", l.f.Name())
			}
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, unix.EIO) {
			return 0, err // a deadline: the session or the listener ends
		}
		if l.wake != nil && !armed {
			// Signal from now on, and look once more before sleeping:
			// a host that came in between still wakes the sleep.
			armed = setAsync(l.f, true)
			for len(l.wake) > 0 {
				<-l.wake
			}
			if armed {
				interval = l.maxPoll
				continue
			}
		}
		if !waiting {
			l.log.Debug("agent port: waiting for a host", "port", l.f.Name())
			waiting, waitStart = true, time.Now()
		}
		select {
		case <-stop:
			return 0, net.ErrClosed
		case <-l.closing:
			return 0, net.ErrClosed
		case <-time.After(interval):
		case <-l.wake: // nil unless SignalWake
		}
		if !armed && time.Since(waitStart) >= l.fastWait {
			interval = min(2*interval, l.maxPoll)
		}
		if l.slowed != nil {
			l.slowed(interval)
		}
	}
}

// serveSession serves one yamux session that starts with start (a host's
// hello and what followed it). If the next host's hello ended it, next is
// the bytes from that hello on.
func (l *SerialListener) serveSession(start []byte) (next []byte, err error) {
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	conn := &sessionConn{l: l, pending: start, done: make(chan struct{})}
	sess, err := yamux.Server(conn, cfg)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	select {
	case <-l.closing:
		l.mu.Unlock()
		sess.Close()
		conn.finish()
		return nil, net.ErrClosed
	default:
	}
	l.sess = sess
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.sess = nil
		l.mu.Unlock()
		sess.Close()
		conn.finish()
		next = conn.next
		if conn.quiesced.Load() && next == nil {
			l.markQuiesced(&conn.streams) // quiesce.go
		}
	}()
	end := func() {
		conn.quiesced.Store(true)
		conn.Close()
		sess.Close()
	}
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return nil, err
		}
		conn.streams.Add(1)
		select {
		case l.conns <- &serialStream{Stream: st, end: end, closed: conn.streams.Done}:
		case <-l.closing:
			st.Close()
			conn.streams.Done()
			return nil, net.ErrClosed
		}
	}
}

// sessionConn is the device as one session's connection. It reads the
// session's first bytes from pending, then the device, and ends the
// session (EOF) just before the next host's hello. Closing it does not
// close the device: it interrupts pending I/O with a deadline, and finish
// waits for that I/O before the next session uses the device.
type sessionConn struct {
	l       *SerialListener
	pending []byte
	frames  frameTracker
	// next is set once the next host's hello was read: the bytes from it
	// on, for the next session.
	next []byte

	mu     sync.Mutex
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup

	// quiesced says a quiesce ended the session (EndSession); streams
	// counts its streams not yet closed by whoever took them.
	quiesced atomic.Bool
	streams  sync.WaitGroup
}

var errSessionDone = errors.New("session closed")

func (c *sessionConn) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

// Read is called by the session's one reader (yamux's receive loop).
func (c *sessionConn) Read(p []byte) (int, error) {
	if !c.enter() {
		return 0, errSessionDone
	}
	defer c.wg.Done()
	if c.next != nil {
		return 0, io.EOF
	}
	var n int
	if len(c.pending) > 0 {
		n = copy(p, c.pending)
		c.pending = c.pending[n:]
	} else {
		var err error
		if n, err = c.l.read(c.done, p); err != nil {
			return 0, err
		}
	}
	end, ok := c.frames.feed(p[:n])
	if !ok {
		return n, nil
	}
	// A new host: this session ends where its hello begins (which may be
	// in an earlier read: this session then saw half a frame before EOF).
	next := append(helloBytes(), p[end:n]...)
	c.next = append(next, c.pending...)
	c.pending = nil
	if begin := end - len(helloBytes()); begin > 0 {
		return begin, nil
	}
	return 0, io.EOF
}

func (c *sessionConn) Write(p []byte) (int, error) {
	if !c.enter() {
		return 0, errSessionDone
	}
	defer c.wg.Done()
	return c.l.f.Write(p)
}

func (c *sessionConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
		_ = c.l.f.SetDeadline(time.Now())
	}
	return nil
}

// finish waits for pending I/O to return and clears the deadline, unless
// the listener is closing (its own deadline stays).
func (c *sessionConn) finish() {
	c.Close()
	c.wg.Wait()
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	select {
	case <-c.l.closing:
	default:
		_ = c.l.f.SetDeadline(time.Time{})
	}
}

// serialStream is a stream of one session; EndSession ends that session
// without writing anything more to the line.
type serialStream struct {
	*yamux.Stream
	end       func()
	closed    func()
	closeOnce sync.Once
}

// Close closes the stream and counts it closed for its session.
func (s *serialStream) Close() error {
	err := s.Stream.Close()
	s.closeOnce.Do(s.closed)
	return err
}

// EndSession ends the session the stream belongs to, quietly: the device
// is cut off from the session first, so not even yamux's go-away frame
// goes out. Whatever was written before it (an answer) has been sent. Once
// the session is torn down the agent writes client.SerialQuiesced, then
// waits for a host to start a new session, and until one does it writes
// nothing: the line is clean for a snapshot.
func (s *serialStream) EndSession() { s.end() }

// SessionEnder is a connection whose whole session can be ended quietly
// (a stream of the virtio-serial port).
type SessionEnder interface{ EndSession() }

var _ SessionEnder = (*serialStream)(nil)

type serialAddr string

func (a serialAddr) Network() string { return "virtio-serial" }
func (a serialAddr) String() string  { return string(a) }
