package egress

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// peekWait bounds how long the proxy waits for a client's first bytes
// (a TLS ClientHello or an HTTP request head). Protocols where the server
// speaks first get no name, and are judged by their address alone after it.
const peekWait = 3 * time.Second

// acceptLoop serves proxied connections until the listener closes.
func (s *Service) acceptLoop(ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(c.(*net.TCPConn))
		}()
	}
}

// handle judges one redirected connection and, if it passes, carries it.
func (s *Service) handle(c *net.TCPConn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(s.life)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()

	src, _ := addrOf(c.RemoteAddr())
	e, cnt := s.lookup(src)
	if e == nil {
		reset(c)
		return
	}
	dst, err := originalDst(c)
	if err != nil {
		s.log.Warn("egress: no original destination", "sandbox", e.guest.Sandbox, "err", err)
		reset(c)
		return
	}
	denied := func(name, why string) {
		cnt.connDenied.Add(1)
		s.deny(Denial{Sandbox: e.guest.Sandbox, Kind: "connect", Name: name, Addr: dst.String(), Reason: why})
	}
	if s.isLocal(dst.Addr()) {
		denied("", "destination is the host or a guest")
		reset(c)
		return
	}
	rules := e.guest.Rules
	if (dst.Port() == 53 || dst.Port() == 853) && !rules.ExplicitAddr(dst.Addr()) {
		// DNS (and DNS over TLS) goes to the gateway's resolver, which
		// answers by the policy; another resolver would not.
		denied("", "DNS servers other than the gateway's resolver are refused")
		reset(c)
		return
	}
	if rules.ExplicitAddr(dst.Addr()) && len(e.guest.Secrets) == 0 {
		cnt.connAllowed.Add(1)
		s.splice(ctx, c, nil, dst)
		return
	}

	p := peek(c, peekWait)
	switch {
	case p.name != "" && !rules.AllowName(p.name):
		denied(p.name, "name outside the egress policy")
		refuse(c, p)
		return
	case p.name != "" && !e.resolvedTo(p.name, dst.Addr()) && !rules.AllowAddr(dst.Addr()):
		denied(p.name, "address was not resolved for this name by the sandbox's resolver")
		refuse(c, p)
		return
	case p.name == "" && !rules.AllowAddr(dst.Addr()):
		denied("", "raw address outside the egress policy")
		refuse(c, p)
		return
	}
	cnt.connAllowed.Add(1)
	if p.tls {
		if secrets := secretsFor(e.guest.Secrets, p.name); len(secrets) > 0 {
			s.intercept(ctx, &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(p.head), c)}, p.name, dst, secrets, e, cnt)
			return
		}
	}
	s.splice(ctx, c, p.head, dst)
}

// secretsFor returns the secrets that apply to host.
func secretsFor(all []Secret, host string) []Secret {
	if host == "" {
		return nil
	}
	var out []Secret
	for _, s := range all {
		if s.matchesHost(host) {
			out = append(out, s)
		}
	}
	return out
}

// refuse ends a denied connection so the client learns at once: an HTTP
// client gets a 403 saying why, everything else a TCP reset.
func refuse(c *net.TCPConn, p peeked) {
	if p.http {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 41\r\n\r\nvolant: egress policy forbids this host\r\n\n")
		_ = c.Close()
		return
	}
	reset(c)
}

// reset closes c with a TCP RST.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// splice connects to dst, sends head and copies both ways until both
// sides are done.
func (s *Service) splice(ctx context.Context, c *net.TCPConn, head []byte, dst netip.AddrPort) {
	up, err := s.dial(ctx, "tcp4", dst.String())
	if err != nil {
		reset(c)
		return
	}
	defer up.Close()
	if len(head) > 0 {
		if _, err := up.Write(head); err != nil {
			reset(c)
			return
		}
	}
	pipe(c, up.(*net.TCPConn))
}

// pipe copies a<->b, half-closing each direction as it ends.
func pipe(a, b *net.TCPConn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(b, a); _ = b.CloseWrite() }()
	go func() { defer wg.Done(); _, _ = io.Copy(a, b); _ = a.CloseWrite() }()
	wg.Wait()
}

// originalDst is where the guest meant to connect, before the redirect.
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var mreq *unix.IPv6Mreq
	var serr error
	if err := rc.Control(func(fd uintptr) {
		mreq, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
	}); err != nil {
		return netip.AddrPort{}, err
	}
	if serr != nil {
		return netip.AddrPort{}, serr
	}
	b := mreq.Multiaddr
	port := uint16(b[2])<<8 | uint16(b[3])
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}), port), nil
}

// isLocal reports whether a is the host itself or inside the guest subnet:
// the proxy never connects there for a guest.
func (s *Service) isLocal(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() || a.IsLoopback() || a.IsUnspecified() || a.IsLinkLocalUnicast() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	if s.cfg.Subnet.IsValid() && s.cfg.Subnet.Contains(a) {
		return true
	}
	for _, l := range s.localAddrs() {
		if l == a {
			return true
		}
	}
	return false
}

// localAddrs lists the host's addresses (refreshed every few seconds).
func (s *Service) localAddrs() []netip.Addr {
	s.localMu.Lock()
	defer s.localMu.Unlock()
	if time.Since(s.localAt) < 5*time.Second {
		return s.local
	}
	var addrs []net.Addr
	_ = s.inNS(func() error {
		var err error
		addrs, err = net.InterfaceAddrs()
		return err
	})
	s.local = s.local[:0]
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				s.local = append(s.local, ip.Unmap())
			}
		}
	}
	s.localAt = time.Now()
	return s.local
}

// prefixConn is a net.Conn whose reads come from r first.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

var errPeekDone = errors.New("peek done")
