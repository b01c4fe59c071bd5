package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/mdlayher/vsock"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// agentSession is the one yamux client session over the virtio-serial
// port's unix socket. QEMU's chardev accepts one connection at a time, so
// all logical connections to the agent are streams of this session.
type agentSession struct {
	conn net.Conn
	sess *yamux.Session
	// quiesced is closed once the agent marked the end of a quiesced
	// session on the line (client.SerialQuiesced).
	quiesced <-chan struct{}
}

func (s *agentSession) close() {
	s.sess.Close()
	s.conn.Close()
}

// DialAgent opens a new connection to the guest agent. With vsock it is
// an AF_VSOCK connection; otherwise a new stream of the VM's yamux session
// over the virtio-serial port, which is (re)connected lazily: if the
// session has died (guest reset, VM restored) it reconnects and retries
// once.
func (vm *VM) DialAgent(ctx context.Context) (net.Conn, error) {
	if cid := vm.rec.Launch.VsockCID; cid != 0 {
		c, err := vsock.Dial(cid, client.VsockPort, nil)
		if err != nil {
			return nil, fmt.Errorf("dialing agent of vm %s over vsock: %w", vm.id, errors.Join(errdefs.ErrUnavailable, err))
		}
		return c, nil
	}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		s, err := vm.agentSession(ctx)
		if err != nil {
			return nil, err
		}
		st, err := s.sess.OpenStream()
		if err == nil {
			return st, nil
		}
		lastErr = err
		vm.dropAgentSession(s)
	}
	return nil, fmt.Errorf("dialing agent of vm %s: %w", vm.id, errors.Join(errdefs.ErrUnavailable, lastErr))
}

// agentSession returns the live session, connecting a new one if needed.
func (vm *VM) agentSession(ctx context.Context) (*agentSession, error) {
	vm.agentMu.Lock()
	defer vm.agentMu.Unlock()
	if vm.agent != nil && !vm.agent.sess.IsClosed() {
		return vm.agent, nil
	}
	if vm.agent != nil {
		vm.agent.close()
		vm.agent = nil
	}
	if vm.exited() {
		return nil, errdefs.Unavailable("agent of vm %s: the vm has exited", vm.id)
	}
	probe := 100 * time.Millisecond
	stale, start := vm.agentStale, time.Now()
	for tries := 1; ; tries++ {
		s, err := vm.greetAgent(ctx)
		if err != nil || !vm.agentStale {
			if stale {
				vm.log.Debug("agent session after a restore", "vm", vm.id, "tries", tries, "took", time.Since(start).Round(100*time.Microsecond), "err", err)
			}
			return s, err
		}
		// The guest was restored from a snapshot taken without a quiesce
		// (or by an agent older than the channel's hello): its agent may
		// still hold the session of the host that took the snapshot, and
		// eat or refuse what a new session sends. A request that does not
		// come back quickly means that: hang up, so that the guest ends
		// whatever session it has, and connect again.
		//
		// The stale session may also answer once and then end, when the
		// guest sees the hang-up of the old host after the restore: so
		// the answer must come again a little later, on the same session.
		err = probeAgent(ctx, s.sess, probe)
		if err == nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			err = probeAgent(ctx, s.sess, probe)
		}
		if err == nil {
			vm.agentStale = false
			vm.log.Debug("agent session after a restore", "vm", vm.id, "tries", tries, "took", time.Since(start).Round(100*time.Microsecond))
			return s, nil
		}
		s.close()
		vm.agent = nil
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("connecting agent channel of vm %s after a restore: %w", vm.id, errors.Join(errdefs.ErrUnavailable, err))
		}
		probe = min(probe*2, 2*time.Second)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The first wait for the agent's answer to the channel's hello, and the
// longest: a guest that has not answered (still booting, starved, or it
// missed the hello) gets a new connection and hello, each waited for
// twice as long as the last.
const (
	helloWait    = 2 * time.Second
	maxHelloWait = 16 * time.Second
)

// greetAgent connects a new agent session, greeting the agent until it
// answers or ctx ends.
func (vm *VM) greetAgent(ctx context.Context) (*agentSession, error) {
	wait := helloWait
	for {
		s, err := vm.dialAgentSession(ctx, wait)
		if err == nil || !errors.Is(err, client.ErrNoHelloAnswer) || ctx.Err() != nil || vm.exited() {
			return s, err
		}
		vm.log.Debug("agent did not answer the hello; connecting again", "vm", vm.id, "waited", wait)
		wait = min(2*wait, maxHelloWait)
	}
}

// dialAgentSession connects the agent socket, greets the agent (waiting
// up to wait for its answer) and starts a yamux client session over the
// connection, the VM's from now on.
func (vm *VM) dialAgentSession(ctx context.Context, wait time.Duration) (*agentSession, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(vm.dir, agentSocket))
	if err != nil {
		return nil, fmt.Errorf("connecting agent channel of vm %s: %w", vm.id, errors.Join(errdefs.ErrUnavailable, err))
	}
	start := time.Now()
	rest, err := client.GreetSerial(ctx, conn, wait)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent channel of vm %s: %w", vm.id, err)
	}
	vm.log.Debug("agent answered the hello", "vm", vm.id, "took", time.Since(start).Round(100*time.Microsecond))
	watched, quiesced := client.WatchQuiesced(client.WithPrefix(conn, rest))
	sess, err := yamux.Client(watched, newYamuxConfig())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent session of vm %s: %w", vm.id, err)
	}
	vm.agent = &agentSession{conn: conn, sess: sess, quiesced: quiesced}
	return vm.agent, nil
}

// probeAgent does one GET /v1/health on a new stream of sess and waits up
// to timeout (or ctx) for the status line of the answer.
func probeAgent(ctx context.Context, sess *yamux.Session, timeout time.Duration) error {
	st, err := sess.OpenStream()
	if err != nil {
		return err
	}
	defer st.Close()
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	st.SetDeadline(dl)
	if _, err := io.WriteString(st, "GET /v1/health HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(st).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "HTTP/1.1 ") {
		return fmt.Errorf("agent answered %q", line)
	}
	return nil
}

// dropAgentSession closes s if it is still the VM's session.
func (vm *VM) dropAgentSession(s *agentSession) {
	vm.agentMu.Lock()
	defer vm.agentMu.Unlock()
	if vm.agent == s {
		vm.agent = nil
	}
	s.close()
}

// agentQuiesceTimeout bounds the agent's answer to a quiesce request.
const agentQuiesceTimeout = 10 * time.Second

// quiesceAgent makes the agent channel clean for a snapshot: it asks the
// guest's agent (POST /v1/quiesce) to end its session once it has
// answered and to write nothing until a new host comes, reads the answer,
// and hangs up. So the snapshot freezes no session of this host and no
// bytes on their way to it, and a restore's first session needs no
// probing for a stale one. It reports whether the agent confirmed; if not
// (vsock, a VM that is not running, an agent that does not answer in
// time), restores of the snapshot probe their first session.
func (vm *VM) quiesceAgent(ctx context.Context) bool {
	if vm.rec.Launch.VsockCID != 0 {
		return false
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := vm.qmp.Execute(ctx, "query-status", nil, &st); err != nil || st.Status != "running" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, agentQuiesceTimeout)
	defer cancel()
	s, err := vm.agentSession(ctx)
	if err != nil {
		vm.log.Debug("agent not quiesced before a snapshot", "err", err)
		return false
	}
	marked, err := askQuiesce(ctx, s.sess)
	if err == nil && marked {
		// The snapshot must not freeze the guest mid-teardown: its
		// restores would all finish it first.
		select {
		case <-s.quiesced:
		case <-time.After(agentQuiescedWait):
			vm.log.Debug("agent did not mark its session's end before a snapshot", "waited", agentQuiescedWait)
		case <-ctx.Done():
		}
	}
	vm.agentMu.Lock()
	if vm.agent == s {
		vm.agent = nil
	}
	vm.agentMu.Unlock()
	s.close()
	if err != nil {
		vm.log.Debug("agent not quiesced before a snapshot", "err", err)
		return false
	}
	return true
}

// agentQuiescedWait bounds the wait for the agent's mark that a quiesced
// session is torn down (the agent itself waits up to 2 s for the
// session's streams to close).
const agentQuiescedWait = 5 * time.Second

// askQuiesce sends POST /v1/quiesce on a new stream of sess and reads the
// answer's head: the agent sends nothing after it but, when marked says
// so, client.SerialQuiesced once the session is torn down.
func askQuiesce(ctx context.Context, sess *yamux.Session) (marked bool, err error) {
	st, err := sess.OpenStream()
	if err != nil {
		return false, err
	}
	defer st.Close()
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	if _, err := io.WriteString(st, "POST /v1/quiesce HTTP/1.1\r\nHost: agent\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(st), nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("agent answered %s", resp.Status)
	}
	return resp.Header.Get(client.QuiesceMarkHeader) == "1", nil
}
