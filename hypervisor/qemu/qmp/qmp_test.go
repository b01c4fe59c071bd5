package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
)

const greeting = `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}`

// fakeQEMU is a QMP server over one end of a net.Pipe. It answers
// qmp_capabilities, then calls reply for every command; reply returns the
// lines to send back (events and/or the reply), in order.
type fakeQEMU struct {
	conn  net.Conn
	reply func(cmd string, args json.RawMessage, id json.RawMessage) []string
	wg    sync.WaitGroup
	wmu   sync.Mutex
}

func startFake(t *testing.T, reply func(cmd string, args, id json.RawMessage) []string) (*fakeQEMU, net.Conn) {
	t.Helper()
	srv, cli := net.Pipe()
	f := &fakeQEMU{conn: srv, reply: reply}
	f.wg.Add(1)
	go f.serve(t)
	t.Cleanup(func() { srv.Close(); f.wg.Wait() })
	return f, cli
}

func (f *fakeQEMU) send(line string) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_, err := f.conn.Write([]byte(line + "\n"))
	return err
}

func (f *fakeQEMU) serve(t *testing.T) {
	defer f.wg.Done()
	if f.send(greeting) != nil {
		return
	}
	r := bufio.NewReader(f.conn)
	capsDone := false
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req struct {
			Execute   string          `json:"execute"`
			Arguments json.RawMessage `json:"arguments"`
			ID        json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(line, &req); err != nil {
			t.Errorf("fake qemu: bad request %q: %v", line, err)
			return
		}
		if !capsDone {
			if req.Execute != "qmp_capabilities" {
				f.send(fmt.Sprintf(`{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}, "id": %s}`, req.ID))
				continue
			}
			capsDone = true
			f.send(fmt.Sprintf(`{"return": {}, "id": %s}`, req.ID))
			continue
		}
		// Answer concurrently so replies can come back out of order.
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for _, l := range f.reply(req.Execute, req.Arguments, req.ID) {
				if f.send(l) != nil {
					return
				}
			}
		}()
	}
}

func event(name, data string) string {
	return fmt.Sprintf(`{"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": %q, "data": %s}`, name, data)
}

func TestHandshakeAndVersion(t *testing.T) {
	_, conn := startFake(t, nil)
	c, err := New(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := c.Greeting().Version(), "7.2.22"; got != want {
		t.Errorf("version: got %q, want %q", got, want)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// The server never greets.
	_, err := New(ctx, cli)
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("got %v, want an ErrUnavailable", err)
	}
}

func TestExecuteConcurrentWithEvents(t *testing.T) {
	_, conn := startFake(t, func(cmd string, args, id json.RawMessage) []string {
		switch cmd {
		case "query-status":
			return []string{
				event("RESUME", "{}"),
				fmt.Sprintf(`{"return": {"status": "running", "singlestep": false, "running": true}, "id": %s}`, id),
			}
		case "echo":
			return []string{fmt.Sprintf(`{"return": %s, "id": %s}`, args, id)}
		case "stop":
			return []string{fmt.Sprintf(`{"return": {}, "id": %s}`, id), event("STOP", "{}")}
		default:
			return []string{fmt.Sprintf(`{"error": {"class": "CommandNotFound", "desc": "The command %s has not been found"}, "id": %s}`, cmd, id)}
		}
	})
	c, err := New(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events, unsubscribe := c.Subscribe()
	defer unsubscribe()
	ctx := context.Background()

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got struct{ N int }
			if err := c.Execute(ctx, "echo", map[string]int{"n": i}, &got); err != nil {
				t.Errorf("echo %d: %v", i, err)
				return
			}
			if got.N != i {
				t.Errorf("echo: got %d, want %d", got.N, i)
			}
		}()
	}
	wg.Wait()

	var st struct {
		Status  string `json:"status"`
		Running bool   `json:"running"`
	}
	if err := c.Execute(ctx, "query-status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != "running" || !st.Running {
		t.Errorf("query-status: got %+v", st)
	}
	if err := c.Execute(ctx, "stop", nil, nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	for len(names) < 2 {
		ev := <-events
		names = append(names, ev.Name)
		if ev.Time.IsZero() {
			t.Errorf("event %s: no timestamp", ev.Name)
		}
	}
	if diff := cmp.Diff([]string{"RESUME", "STOP"}, names); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	err = c.Execute(ctx, "nope", nil, nil)
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("got %v, want a *qmp.Error", err)
	}
	if diff := cmp.Diff(&Error{Class: "CommandNotFound", Desc: "The command nope has not been found"}, qe); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestCloseFailsPendingAndEndsSubscriptions(t *testing.T) {
	block := make(chan struct{})
	_, conn := startFake(t, func(cmd string, args, id json.RawMessage) []string {
		<-block
		return nil
	})
	defer close(block)
	c, err := New(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := c.Subscribe()
	errc := make(chan error, 1)
	go func() { errc <- c.Execute(context.Background(), "query-status", nil, nil) }()
	time.Sleep(10 * time.Millisecond) // let the call be sent; correctness does not depend on it
	c.Close()
	c.Close() // idempotent
	if err := <-errc; !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("pending call: got %v, want ErrUnavailable", err)
	}
	if _, ok := <-events; ok {
		t.Error("subscription still open after Close")
	}
	if err := c.Execute(context.Background(), "query-status", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call after close: got %v, want ErrClosed", err)
	}
	<-c.Done()
}

func TestExecuteContextCancel(t *testing.T) {
	block := make(chan struct{})
	_, conn := startFake(t, func(cmd string, args, id json.RawMessage) []string {
		<-block
		return []string{fmt.Sprintf(`{"return": {}, "id": %s}`, id)}
	})
	c, err := New(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Execute(ctx, "stop", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want DeadlineExceeded", err)
	}
}
