// Package qmp is a client of the QEMU Machine Protocol: it reads the
// greeting, negotiates capabilities, runs commands (many callers at once,
// matched to replies by id) and hands asynchronous events to subscribers.
package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"golang.org/x/sys/unix"
)

// Error is an error QEMU answered to a command.
type Error struct {
	// Class is QMP's error class, for example "GenericError" or "CommandNotFound".
	Class string `json:"class"`
	// Desc is QEMU's human-readable description.
	Desc string `json:"desc"`
}

func (e *Error) Error() string { return fmt.Sprintf("qmp %s: %s", e.Class, e.Desc) }

// Event is an asynchronous QMP event such as SHUTDOWN, STOP or RESUME.
type Event struct {
	Name string          `json:"event"`
	Data json.RawMessage `json:"data,omitempty"`
	// Time is when QEMU emitted the event.
	Time time.Time `json:"-"`
}

// Greeting is what QEMU says when a client connects.
type Greeting struct {
	QMP struct {
		Version struct {
			QEMU struct {
				Major int `json:"major"`
				Minor int `json:"minor"`
				Micro int `json:"micro"`
			} `json:"qemu"`
			Package string `json:"package"`
		} `json:"version"`
		Capabilities []string `json:"capabilities"`
	} `json:"QMP"`
}

// Version is the QEMU version from the greeting, "major.minor.micro".
func (g Greeting) Version() string {
	v := g.QMP.Version.QEMU
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro)
}

// message is any line QEMU sends after the greeting.
type message struct {
	ID        json.RawMessage `json:"id,omitempty"`
	Return    json.RawMessage `json:"return,omitempty"`
	Error     *Error          `json:"error,omitempty"`
	Event     string          `json:"event,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp,omitempty"`
}

type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
	ID        string `json:"id"`
}

type result struct {
	ret json.RawMessage
	err error
}

// ErrClosed is returned by calls on a client whose connection has ended.
var ErrClosed = errdefs.Unavailable("qmp connection closed")

// Client is one QMP connection. It is safe for concurrent use.
type Client struct {
	conn     net.Conn
	greeting Greeting
	done     chan struct{} // closed when the reader ends
	closeErr error
	once     sync.Once

	wmu sync.Mutex // serialises writes on conn

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan result
	subs    map[int]chan Event
	nextSub int
	closed  bool
}

// Dial connects to QEMU's QMP unix socket at path and negotiates
// capabilities. ctx bounds the dial and the handshake only.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connecting to qmp socket %s: %w", path, errors.Join(errdefs.ErrUnavailable, err))
	}
	c, err := New(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// New runs the QMP handshake on conn (greeting, qmp_capabilities) and
// returns a client that owns conn. ctx bounds the handshake only.
func New(ctx context.Context, conn net.Conn) (*Client, error) {
	r := bufio.NewReader(conn)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	var g Greeting
	line, err := r.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &g)
	}
	if err == nil && g.QMP.Capabilities == nil && g.QMP.Version.QEMU.Major == 0 {
		err = fmt.Errorf("unexpected greeting %q", line)
	}
	if err == nil {
		err = handshake(conn, r)
	}
	if !stop() || ctx.Err() != nil {
		return nil, fmt.Errorf("qmp handshake: %w", errors.Join(errdefs.ErrUnavailable, ctx.Err()))
	}
	conn.SetDeadline(time.Time{})
	if err != nil {
		return nil, fmt.Errorf("qmp handshake: %w", errors.Join(errdefs.ErrUnavailable, err))
	}
	c := &Client{
		conn:     conn,
		greeting: g,
		done:     make(chan struct{}),
		pending:  map[string]chan result{},
		subs:     map[int]chan Event{},
	}
	go c.read(r)
	return c, nil
}

// handshake sends qmp_capabilities and waits for its (empty) return,
// ignoring events that arrive first.
func handshake(conn net.Conn, r *bufio.Reader) error {
	if _, err := conn.Write([]byte(`{"execute":"qmp_capabilities","id":"cap"}` + "\n")); err != nil {
		return err
	}
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return err
		}
		var m message
		if err := json.Unmarshal(line, &m); err != nil {
			return fmt.Errorf("decoding %q: %w", line, err)
		}
		switch {
		case m.Event != "":
			continue
		case m.Error != nil:
			return m.Error
		default:
			return nil
		}
	}
}

// Greeting is what QEMU said on connect.
func (c *Client) Greeting() Greeting { return c.greeting }

// Done is closed when the connection has ended (QEMU exited or Close).
func (c *Client) Done() <-chan struct{} { return c.done }

// read dispatches replies to callers and events to subscribers until the
// connection ends.
func (c *Client) read(r *bufio.Reader) {
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break
		}
		var m message
		if json.Unmarshal(line, &m) != nil {
			continue // QEMU only sends JSON; skip what we cannot parse
		}
		if m.Event != "" {
			ev := Event{Name: m.Event, Data: m.Data}
			if m.Timestamp != nil {
				ev.Time = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
			}
			c.publish(ev)
			continue
		}
		var id string
		if json.Unmarshal(m.ID, &id) != nil {
			continue
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch == nil {
			continue
		}
		if m.Error != nil {
			ch <- result{err: m.Error}
		} else {
			ch <- result{ret: m.Return}
		}
	}
	c.mu.Lock()
	c.closed = true
	for id, ch := range c.pending {
		ch <- result{err: ErrClosed}
		delete(c.pending, id)
	}
	for id, ch := range c.subs {
		close(ch)
		delete(c.subs, id)
	}
	c.mu.Unlock()
	close(c.done)
}

// publish hands ev to every subscriber; a subscriber whose buffer is full
// misses the event rather than stalling replies to commands.
func (c *Client) publish(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Subscribe returns a channel of the events QEMU sends from now on and a
// function that ends the subscription. The channel is closed when the
// subscription or the connection ends. Events are dropped for a subscriber
// that falls more than 64 events behind.
func (c *Client) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		close(ch)
		return ch, func() {}
	}
	id := c.nextSub
	c.nextSub++
	c.subs[id] = ch
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if s, ok := c.subs[id]; ok {
			delete(c.subs, id)
			close(s)
		}
	}
}

// Execute runs command with optional arguments and decodes its return
// value into out (if not nil). A QEMU error is returned as *Error.
// ctx bounds the wait for the reply; the command may still run in QEMU.
func (c *Client) Execute(ctx context.Context, command string, args, out any) error {
	return c.execute(ctx, command, args, out, nil)
}

// ExecuteWithFile is Execute with f's descriptor passed along with the
// command (SCM_RIGHTS), as getfd and add-fd take it. The connection must
// be a unix socket. f stays the caller's to close.
func (c *Client) ExecuteWithFile(ctx context.Context, command string, args, out any, f *os.File) error {
	if _, ok := c.conn.(*net.UnixConn); !ok {
		return fmt.Errorf("qmp %s: passing a file needs a unix socket", command)
	}
	return c.execute(ctx, command, args, out, f)
}

func (c *Client) execute(ctx context.Context, command string, args, out any, f *os.File) error {
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("qmp %s: %w", command, ErrClosed)
	}
	c.nextID++
	id := strconv.FormatUint(c.nextID, 10)
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}

	buf, err := json.Marshal(request{Execute: command, Arguments: args, ID: id})
	if err != nil {
		forget()
		return fmt.Errorf("encoding qmp %s: %w", command, err)
	}
	buf = append(buf, '\n')
	if err := c.write(ctx, buf, f); err != nil {
		forget()
		return fmt.Errorf("sending qmp %s: %w", command, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return fmt.Errorf("qmp %s: %w", command, r.err)
		}
		if out != nil && len(r.ret) > 0 {
			if err := json.Unmarshal(r.ret, out); err != nil {
				return fmt.Errorf("decoding qmp %s reply: %w", command, err)
			}
		}
		return nil
	case <-ctx.Done():
		forget()
		return fmt.Errorf("qmp %s: %w", command, ctx.Err())
	}
}

// write sends buf, with f's descriptor when f is not nil.
func (c *Client) write(ctx context.Context, buf []byte, f *os.File) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetWriteDeadline(dl)
		defer c.conn.SetWriteDeadline(time.Time{})
	}
	var err error
	if f != nil {
		// The descriptor rides on the message's first byte; the rest of
		// the line follows as plain data.
		var n int
		n, _, err = c.conn.(*net.UnixConn).WriteMsgUnix(buf, unix.UnixRights(int(f.Fd())), nil)
		if err == nil && n < len(buf) {
			_, err = c.conn.Write(buf[n:])
		}
	} else {
		_, err = c.conn.Write(buf)
	}
	if err != nil {
		return errors.Join(errdefs.ErrUnavailable, err)
	}
	return nil
}

// Close ends the connection and waits for the reader to stop. It is
// idempotent. Pending calls fail with ErrClosed.
func (c *Client) Close() error {
	c.once.Do(func() { c.closeErr = c.conn.Close() })
	<-c.done
	return c.closeErr
}
