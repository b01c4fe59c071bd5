package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"

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
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(vm.dir, agentSocket))
	if err != nil {
		return nil, fmt.Errorf("connecting agent channel of vm %s: %w", vm.id, errors.Join(errdefs.ErrUnavailable, err))
	}
	sess, err := yamux.Client(conn, newYamuxConfig())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent session of vm %s: %w", vm.id, err)
	}
	vm.agent = &agentSession{conn: conn, sess: sess}
	return vm.agent, nil
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
