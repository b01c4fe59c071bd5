package egress

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/volant-sh/volant/network"
)

// The addresses of the test world. The "outside" namespace holds two
// addresses, each with a DNS server, an HTTP and an HTTPS server.
const (
	hostOut  = "198.51.100.1"
	outA     = "198.51.100.2"
	outB     = "198.51.100.3"
	guestIP  = "10.88.0.10"
	gateway  = "10.88.0.1"
	testPort = 3129
)

// zone is what the outside DNS server answers.
var zone = map[string]string{
	"allowed.test.":     outA,
	"api.secret.test.":  outA,
	"other.test.":       outA,
	"denied.test.":      outB,
	"b.allowed.test.":   outB,
	"cdn.wild.test.":    outB,
	"wild.test.":        outA,
	"evil.denied.test.": outB,
}

var nsCounter atomic.Int64

// newNS makes a namespace of the test's own, deleted when it ends.
func newNS(t testing.TB, tag string) netns.NsHandle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root; run the tests as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (iproute2) is not installed")
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("vegr-%x-%d-%s", rnd, nsCounter.Add(1), tag)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		_ = exec.Command("ip", "netns", "del", name).Run()
		t.Fatalf("opening namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	return ns
}

func in(t testing.TB, ns netns.NsHandle, fn func() error) {
	t.Helper()
	if err := runInNS(ns, fn); err != nil {
		t.Fatal(err)
	}
}

func handle(t testing.TB, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func up(t testing.TB, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	return l
}

func addAddr(t testing.TB, h *netlink.Handle, l netlink.Link, cidr string) {
	t.Helper()
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	a.Flags = 0x02 // IFA_F_NODAD: usable at once
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("adding %s: %v", cidr, err)
	}
}

// world is the test's host, outside and guest.
type world struct {
	host, out, guest netns.NsHandle
	net              *network.Manager
	svc              *Service
	logs             *syncBuffer
	testCA           *x509.CertPool
	denials          chan Denial
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newWorld builds the namespaces, the outside servers and the bridge with
// its firewall. With egress, it starts the Service and turns enforcement
// on in the firewall; without, guests have plain NAT.
func newWorld(t testing.TB, egress bool) *world {
	t.Helper()
	w := &world{host: newNS(t, "host"), out: newNS(t, "out"), guest: newNS(t, "guest"), logs: &syncBuffer{}, denials: make(chan Denial, 1024)}
	hh, oh, gh := handle(t, w.host), handle(t, w.out), handle(t, w.guest)
	up(t, hh, "lo")
	up(t, oh, "lo")
	up(t, gh, "lo")

	// host <-> outside
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "vout"
	if err := hh.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(w.out))}); err != nil {
		t.Fatalf("veth to outside: %v", err)
	}
	addAddr(t, hh, up(t, hh, "vout"), hostOut+"/24")
	oeth := up(t, oh, "eth0")
	addAddr(t, oh, oeth, outA+"/24")
	addAddr(t, oh, oeth, outB+"/24")

	cfg := network.Config{NAT: true}
	if egress {
		cfg.EgressProxyPort = testPort
	}
	m, err := network.New(cfg, network.WithNetNS(w.host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	w.net = m
	ctx := context.Background()
	if err := m.EnsureBridge(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureFirewall(ctx); err != nil {
		t.Fatal(err)
	}

	// guest: a veth whose host end is a bridge port, like a tap.
	attrs = netlink.NewLinkAttrs()
	attrs.Name = "vguest"
	if err := hh.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(w.guest))}); err != nil {
		t.Fatalf("veth to guest: %v", err)
	}
	br, err := hh.LinkByName(network.DefaultBridge)
	if err != nil {
		t.Fatal(err)
	}
	port := up(t, hh, "vguest")
	if err := hh.LinkSetMaster(port, br); err != nil {
		t.Fatal(err)
	}
	addAddr(t, hh, br, "fd00:88::1/64")
	geth := up(t, gh, "eth0")
	addAddr(t, gh, geth, guestIP+"/16")
	addAddr(t, gh, geth, "fd00:88::10/64")
	if err := gh.RouteAdd(&netlink.Route{LinkIndex: geth.Attrs().Index, Gw: net.ParseIP(gateway)}); err != nil {
		t.Fatal(err)
	}

	w.startOutside(t)
	if egress {
		w.startService(t)
	}
	return w
}

func (w *world) startService(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	roots := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(roots, testCAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{
		Gateway: netip.MustParseAddr(gateway), ProxyPort: testPort, Subnet: network.DefaultSubnet,
		Upstreams: []string{outA + ":53"}, StateDir: dir, ExtraRootsFile: roots,
		Logger: slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnDeny: func(d Denial) {
			select {
			case w.denials <- d:
			default:
			}
		},
	}, WithNetNS(w.host))
	if err != nil {
		t.Fatalf("egress.New: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	w.svc = svc
}

// startOutside runs a DNS server on outA:53 and, on both outside
// addresses, an HTTP server on 80 and an HTTPS server (test CA) on 443
// that answer with the request's headers.
func (w *world) startOutside(t testing.TB) {
	t.Helper()
	var pc net.PacketConn
	var lns []net.Listener
	in(t, w.out, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", outA+":53"); err != nil {
			return err
		}
		for _, a := range []string{outA + ":80", outB + ":80", outA + ":443", outB + ":443", outB + ":22"} {
			ln, err := net.Listen("tcp4", a)
			if err != nil {
				return err
			}
			lns = append(lns, ln)
		}
		return nil
	})
	dsrv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(rw dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		a, ok := zone[strings.ToLower(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(a)})
		}
		_ = rw.WriteMsg(m)
	})}
	go func() { _ = dsrv.ActivateAndServe() }()
	t.Cleanup(func() { _ = dsrv.Shutdown() })

	echo := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var keys []string
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(rw, "host=%s local=%s\n", r.Host, r.Context().Value(http.LocalAddrContextKey))
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(rw, "body=%s\n", b)
		}
		for _, k := range keys {
			fmt.Fprintf(rw, "%s: %s\n", k, strings.Join(r.Header[k], ","))
		}
	})
	cert := testLeaf()
	for i, ln := range lns {
		srv := &http.Server{Handler: echo}
		if strings.HasSuffix(ln.Addr().String(), ":22") {
			// A server that speaks first, like SSH.
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					_, _ = io.WriteString(c, "SSH-2.0-test\r\n")
					c.Close()
				}
			}()
			t.Cleanup(func() { ln.Close() })
			continue
		}
		if i >= 2 {
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
	}
}

// The test CA and one leaf for every outside name and address.
var testCAPEM, testLeafCert, testLeafKey = makeTestPKI()

func makeTestPKI() (caPEM, certPEM, keyPEM []byte) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "egress test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, _ := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var names []string
	for n := range zone {
		names = append(names, strings.TrimSuffix(n, "."))
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "outside"},
		DNSNames: names, IPAddresses: []net.IP{net.ParseIP(outA), net.ParseIP(outB)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, _ := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func testLeaf() tls.Certificate {
	c, err := tls.X509KeyPair(testLeafCert, testLeafKey)
	if err != nil {
		panic(err)
	}
	return c
}

// attach gives the guest a policy (and secrets) in the Service.
func (w *world) attach(t testing.TB, p Policy, secrets ...Secret) {
	t.Helper()
	r, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Attach(netip.MustParseAddr(guestIP), Guest{Sandbox: "sbx-test", Rules: r, Secrets: secrets}); err != nil {
		t.Fatal(err)
	}
}

// query asks server (inside the guest) for name's A record.
func (w *world) query(t testing.TB, server, name string) (*dns.Msg, error) {
	t.Helper()
	var m *dns.Msg
	var err error
	in(t, w.guest, func() error {
		c := &dns.Client{Timeout: 10 * time.Second}
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), dns.TypeA)
		m, _, err = c.Exchange(q, server+":53")
		return nil
	})
	return m, err
}

// resolve asks the gateway and returns the first address, or "".
func (w *world) resolve(t testing.TB, name string) string {
	t.Helper()
	m, err := w.query(t, gateway, name)
	if err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
		return ""
	}
	return m.Answer[0].(*dns.A).A.String()
}

// dialGuest dials from the guest namespace.
func (w *world) dialGuest(network, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	_ = runInNS(w.guest, func() error {
		c, err = net.DialTimeout(network, addr, 10*time.Second)
		return nil
	})
	return c, err
}

// client is an HTTP client in the guest that connects every request to
// addr (as if the name resolved there) and trusts roots.
func (w *world) client(addr string, roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return w.dialGuest("tcp4", addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
		},
	}
}

// get fetches url from the guest, connecting to addr; it returns the body.
func (w *world) get(url, addr string, roots *x509.CertPool, header http.Header) (string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := w.client(addr, roots).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

func pool(pems ...[]byte) *x509.CertPool {
	p := x509.NewCertPool()
	for _, b := range pems {
		p.AppendCertsFromPEM(b)
	}
	return p
}
