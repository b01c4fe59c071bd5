package egress

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// minRemember is the least time an answered address counts for the proxy,
// whatever the record's TTL: clients cache answers longer than they should.
const minRemember = 5 * time.Minute

// serveDNS answers one query from a guest by the guest's policy: names
// outside it get NXDOMAIN, allowed names are asked upstream and the IPv4
// addresses of the answer remembered for the proxy's check. AAAA queries
// get an empty answer (guests have no IPv6 egress), so clients fall back
// to IPv4 at once. Queries from addresses no sandbox holds are refused.
func (s *Service) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	reply := new(dns.Msg)
	src, ok := addrOf(w.RemoteAddr())
	e, c := s.lookup(src)
	if !ok || e == nil || len(req.Question) != 1 {
		reply.SetRcode(req, dns.RcodeRefused)
		_ = w.WriteMsg(reply)
		return
	}
	q := req.Question[0]
	name := NormalizeName(q.Name)
	if !e.guest.Rules.AllowName(name) {
		c.dnsDenied.Add(1)
		s.deny(Denial{Sandbox: e.guest.Sandbox, Kind: "dns", Name: name, Reason: "name outside the egress policy"})
		reply.SetRcode(req, dns.RcodeNameError)
		_ = w.WriteMsg(reply)
		return
	}
	c.dnsAllowed.Add(1)
	if q.Qtype == dns.TypeAAAA {
		reply.SetReply(req)
		reply.RecursionAvailable = true
		_ = w.WriteMsg(reply)
		return
	}
	up, err := s.exchange(req)
	if err != nil {
		s.log.Warn("egress: upstream resolvers failed", "sandbox", e.guest.Sandbox, "name", name, "err", err)
		reply.SetRcode(req, dns.RcodeServerFailure)
		_ = w.WriteMsg(reply)
		return
	}
	var addrs []netip.Addr
	ttl := uint32(0)
	kept := up.Answer[:0]
	for _, rr := range up.Answer {
		switch r := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(r.A); ok {
				addrs = append(addrs, a.Unmap())
				ttl = max(ttl, r.Hdr.Ttl)
			}
		case *dns.AAAA:
			continue
		}
		kept = append(kept, rr)
	}
	up.Answer = kept
	if len(addrs) > 0 {
		e.remember(name, addrs, time.Now().Add(max(time.Duration(ttl)*time.Second, minRemember)))
	}
	up.Id = req.Id
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		up.Truncate(dnsSize(req))
	}
	_ = w.WriteMsg(up)
}

// exchange asks each upstream resolver in turn.
func (s *Service) exchange(req *dns.Msg) (*dns.Msg, error) {
	var last error
	for _, up := range s.cfg.Upstreams {
		for _, network := range []string{"udp", "tcp"} {
			m, err := s.exchangeOne(network, up, req)
			if err != nil {
				last = err
				break
			}
			if m.Truncated && network == "udp" {
				continue
			}
			return m, nil
		}
	}
	return nil, last
}

func (s *Service) exchangeOne(network, addr string, req *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(s.life, 5*time.Second)
	defer cancel()
	nc, err := s.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	co := &dns.Conn{Conn: nc, UDPSize: 4096}
	q := req.Copy()
	q.Id = dns.Id()
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		m, err := co.ReadMsg()
		if err != nil {
			return nil, err
		}
		if m.Id == q.Id {
			return m, nil
		}
	}
}

// dnsSize is the largest UDP answer the client takes.
func dnsSize(req *dns.Msg) int {
	if o := req.IsEdns0(); o != nil {
		return int(o.UDPSize())
	}
	return dns.MinMsgSize
}

// addrOf returns the IP of a socket address.
func addrOf(a net.Addr) (netip.Addr, bool) {
	switch v := a.(type) {
	case *net.UDPAddr:
		ap := v.AddrPort()
		return ap.Addr().Unmap(), true
	case *net.TCPAddr:
		ap := v.AddrPort()
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
