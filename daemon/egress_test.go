package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash/fnv"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestEgressWithGuest runs volantd with egress enforcement in a namespace,
// with an "outside" namespace behind it holding a DNS server and HTTP and
// HTTPS servers, and checks from a real guest: an allowed name resolves
// and answers, a denied one does not resolve and its address does not
// connect, a secret reaches its host upstream in a header while the guest's
// env, /proc/*/environ, its RAM, its snapshot's memory and the daemon's
// logs never hold the value.
func TestEgressWithGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest; skipped under -short")
	}
	const (
		subnet  = "10.79.0.0/24"
		gw      = "10.79.0.1"
		outA    = "198.51.100.2"
		outB    = "198.51.100.3"
		value   = "sk-live-3f9a7c1e5b2d4068-secret"
		hostOut = "198.51.100.1"
	)
	host, out := newTestNS(t), newTestNS(t)
	for _, args := range [][]string{
		{"link", "add", "vout", "type", "veth", "peer", "name", "eth0", "netns", out.name},
		{"addr", "add", hostOut + "/24", "dev", "vout"},
		{"link", "set", "vout", "up"},
	} {
		host.ip(t, args...)
	}
	for _, args := range [][]string{
		{"addr", "add", outA + "/24", "dev", "eth0"},
		{"addr", "add", outB + "/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
	} {
		out.ip(t, args...)
	}

	// The outside: DNS on outA, HTTP and HTTPS (test CA) on both addresses,
	// recording the headers each request arrived with.
	zone := map[string]string{"allowed.test.": outA, "api.secret.test.": outA, "denied.test.": outB}
	caPEM, cert := testPKI(t, "allowed.test", "api.secret.test", "denied.test")
	var pc net.PacketConn
	if err := out.run(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", outA+":53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	dsrv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if a, ok := zone[strings.ToLower(q.Name)]; !ok {
			m.Rcode = dns.RcodeNameError
		} else if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(a)})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = dsrv.ActivateAndServe() }()
	t.Cleanup(func() { _ = dsrv.Shutdown() })
	var mu sync.Mutex
	seen := map[string]string{} // host -> Authorization
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Host] = r.Header.Get("Authorization")
		mu.Unlock()
		fmt.Fprintf(w, "hello from %s\n", r.Host)
	})
	for _, addr := range []string{outA + ":80", outB + ":80", outA + ":443", outB + ":443"} {
		ln, err := out.listen(addr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(addr, ":443") {
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
		}
		srv := &http.Server{Handler: handler}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
	}

	d := newNSVolantd(t, host, "127.0.0.1:7777", subnet)
	roots := filepath.Join(d.stateDir, "test-roots.pem")
	if err := os.WriteFile(roots, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(d.stateDir, "config.json")
	cfg, _ := json.Marshal(map[string]any{"egress": map[string]any{
		"enabled": true, "upstreams": []string{outA + ":53"}, "extra_ca_file": roots,
	}})
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	d.env = append(d.env, "VOLANT_CONFIG="+cfgFile, "VOLANT_TEMPLATES=false")
	d.start()

	var sb bridgeSandbox
	if err := d.call(context.Background(), "POST", "/v1/sandboxes", map[string]any{
		"network": "bridge",
		"egress":  map[string]any{"default": "deny", "allow": []string{"allowed.test", "api.secret.test"}},
		"secrets": map[string]any{"API_KEY": map[string]any{"value": value, "hosts": []string{"api.secret.test"}}},
	}, &sb); err != nil {
		t.Fatal(err)
	}
	t.Logf("sandbox %s at %s", sb.ID, sb.IP)

	if out, err := exec.Command("ip", "netns", "exec", host.name, "nft", "list", "table", "bridge", "volant").CombinedOutput(); err != nil || !strings.Contains(string(out), "ip saddr != "+strings.Split(sb.IP, "/")[0]) {
		t.Errorf("the sandbox's tap is not pinned to its address: %v\n%s", err, out)
	}
	sh := func(line string) execResult { t.Helper(); return d.sh(t, sb.ID, line) }
	// A static Go client in the guest: it resolves through the guest's
	// resolv.conf (the gateway) and verifies TLS against SSL_CERT_FILE,
	// which is where the engine put the egress CA.
	uploadClient(t, d, sb.ID)
	// Hosts without secrets are not intercepted: the guest sees their own
	// certificates, so it trusts the outside's test CA too.
	sh("printf '%s' '" + string(caPEM) + "' >> /etc/ssl/certs/ca-certificates.crt")
	get := func(url string) execResult {
		t.Helper()
		return sh(`/tmp/egcheck "` + url + `" "Bearer $API_KEY"`)
	}
	if res := sh("nslookup denied.test " + gw); strings.Contains(res.Stdout, outB) {
		t.Errorf("denied.test resolved through the gateway:\n%s", res.Stdout)
	}
	if res := get("http://allowed.test/"); res.ExitCode != 0 || !strings.Contains(res.Stdout, "hello from allowed.test") {
		t.Errorf("http://allowed.test from the guest: %+v", res)
	}
	if res := get("http://denied.test/"); res.ExitCode == 0 {
		t.Errorf("http://denied.test from the guest answered: %+v", res)
	}
	if res := get("http://" + outB + "/"); res.ExitCode == 0 {
		t.Errorf("raw address %s from the guest answered: %+v", outB, res)
	}
	if res := get("https://api.secret.test/"); res.ExitCode != 0 || !strings.Contains(res.Stdout, "hello from api.secret.test") {
		t.Errorf("https://api.secret.test from the guest: %+v", res)
	}
	if res := get("https://allowed.test/"); res.ExitCode != 0 {
		t.Errorf("https://allowed.test from the guest: %+v", res)
	}
	mu.Lock()
	gotSecret, gotOther := seen["api.secret.test"], seen["allowed.test"]
	mu.Unlock()
	if gotSecret != "Bearer "+value {
		t.Errorf("api.secret.test got Authorization %q, want the value", gotSecret)
	}
	if strings.Contains(gotOther, value) || !strings.HasPrefix(gotOther, "Bearer volant-secret-") {
		t.Errorf("allowed.test got Authorization %q, want the placeholder", gotOther)
	}

	var res execResult
	res = sh("env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")
	if strings.Contains(res.Stdout, value) || !strings.Contains(res.Stdout, "API_KEY=volant-secret-") {
		t.Errorf("the guest's environment holds the value, or not the placeholder")
	}
	if res := sh("grep -c 'BEGIN CERTIFICATE' " + "/etc/ssl/certs/ca-certificates.crt"); strings.TrimSpace(res.Stdout) == "" || res.ExitCode != 0 {
		t.Errorf("the egress CA is not in the guest's bundle: %+v", res)
	}

	// The guest's RAM (live) and its snapshot's files.
	h := fnv.New32a()
	h.Write([]byte(d.stateDir))
	ram := filepath.Join("/dev/shm", fmt.Sprintf("volant-%08x", h.Sum32()), sb.ID+".mem")
	if _, err := os.Stat(ram); err == nil {
		if fileHolds(t, ram, value) {
			t.Errorf("the guest's RAM %s holds the value", ram)
		}
	} else {
		t.Logf("no RAM file at %s: %v", ram, err)
	}
	var snap struct {
		ID string `json:"id"`
	}
	if err := d.call(context.Background(), "POST", "/v1/sandboxes/"+sb.ID+"/snapshot", nil, &snap); err != nil {
		t.Fatal(err)
	}
	_ = filepath.Walk(filepath.Join(d.stateDir, "snapshots", snap.ID), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && fileHolds(t, p, value) {
			t.Errorf("snapshot file %s holds the value", p)
		}
		return nil
	})
	// A sandbox restored from the snapshot gets the policy of its own
	// create, not the source's; a fork's clone a copy of the parent's
	// policy and no secrets.
	var other bridgeSandbox
	if err := d.call(context.Background(), "POST", "/v1/sandboxes", map[string]any{
		"network": "bridge", "from_snapshot": snap.ID,
		"egress": map[string]any{"default": "deny", "allow": []string{"denied.test"}},
	}, &other); err != nil {
		t.Fatal(err)
	}
	if a, b := lookupA(t, d, other.ID, gw, "denied.test"), lookupA(t, d, other.ID, gw, "allowed.test"); a != outB || b != "NXDOMAIN" {
		t.Errorf("restored sandbox: denied.test %q, allowed.test %q; want %s and NXDOMAIN", a, b, outB)
	}
	var clones struct {
		Items []bridgeSandbox `json:"items"`
	}
	if err := d.call(context.Background(), "POST", "/v1/sandboxes/"+sb.ID+"/fork", map[string]any{"count": 1}, &clones); err != nil {
		t.Fatal(err)
	}
	if len(clones.Items) == 1 {
		clone := clones.Items[0].ID
		if a, b := lookupA(t, d, clone, gw, "allowed.test"), lookupA(t, d, clone, gw, "denied.test"); a != outA || b != "NXDOMAIN" {
			t.Errorf("fork: allowed.test %q, denied.test %q; want the parent's policy (%s and NXDOMAIN)", a, b, outA)
		}
		var ci struct {
			Policy *struct {
				Allow []string `json:"allow"`
			} `json:"egress"`
		}
		_ = d.call(context.Background(), "GET", "/v1/sandboxes/"+clone+"/egress", nil, &ci)
		if ci.Policy == nil || len(ci.Policy.Allow) != 2 {
			t.Errorf("fork's policy %+v, want the parent's two names", ci.Policy)
		}
		// Changing the parent leaves the clone alone.
		if err := d.call(context.Background(), "PUT", "/v1/sandboxes/"+sb.ID+"/egress", map[string]any{"default": "deny"}, nil); err != nil {
			t.Fatal(err)
		}
		if a := lookupA(t, d, clone, gw, "allowed.test"); a != outA {
			t.Errorf("the clone got %q for allowed.test after the parent's policy changed; want %s", a, outA)
		}
		if a := lookupA(t, d, sb.ID, gw, "allowed.test"); a != "NXDOMAIN" {
			t.Errorf("the parent got %q for allowed.test after its policy changed; want NXDOMAIN", a)
		}
	} else {
		t.Errorf("fork: %+v", clones)
	}
	// A fork given a policy gets that one, not the parent's.
	var given struct {
		Items []bridgeSandbox `json:"items"`
	}
	if err := d.call(context.Background(), "POST", "/v1/sandboxes/"+sb.ID+"/fork", map[string]any{
		"count": 1, "egress": map[string]any{"default": "deny", "allow": []string{"denied.test"}},
	}, &given); err != nil {
		t.Fatal(err)
	}
	if len(given.Items) != 1 {
		t.Fatalf("fork with a policy: %+v", given)
	}
	if a, b := lookupA(t, d, given.Items[0].ID, gw, "denied.test"), lookupA(t, d, given.Items[0].ID, gw, "allowed.test"); a != outB || b != "NXDOMAIN" {
		t.Errorf("fork given a policy: denied.test %q, allowed.test %q; want %s and NXDOMAIN", a, b, outB)
	}

	var sbJSON json.RawMessage
	_ = d.call(context.Background(), "GET", "/v1/sandboxes/"+sb.ID, nil, &sbJSON)
	if bytes.Contains(sbJSON, []byte(value)) {
		t.Error("the API returns the value")
	}
	if db, err := exec.Command("sh", "-c", "cat "+filepath.Join(d.stateDir, "volant.db")+"*").Output(); err == nil && bytes.Contains(db, []byte(value)) {
		t.Error("the database holds the value")
	}
	if strings.Contains(d.logs.String(), value) {
		t.Error("the daemon's logs hold the value")
	}
	var info struct {
		Stats struct {
			DNSDenied  int `json:"dns_denied"`
			ConnDenied int `json:"conn_denied"`
		} `json:"stats"`
	}
	if err := d.call(context.Background(), "GET", "/v1/sandboxes/"+sb.ID+"/egress", nil, &info); err != nil || info.Stats.DNSDenied == 0 || info.Stats.ConnDenied == 0 {
		t.Errorf("egress counters %+v, %v: want denials counted", info, err)
	}
}

// egcheckSource is the guest's HTTP client: egcheck URL AUTHORIZATION.
const egcheckSource = `package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	req, err := http.NewRequest("GET", os.Args[1], nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	req.Header.Set("Authorization", os.Args[2])
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, b)
	if resp.StatusCode != 200 {
		os.Exit(1)
	}
}
`

// uploadClient builds egcheck (static) and puts it at /tmp/egcheck in the
// sandbox.
func uploadClient(t *testing.T, d *nsVolantd, id string) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(egcheckSource), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "egcheck")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the guest client: %v: %s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", "http://volantd/v1/sandboxes/"+id+"/files?path=/tmp/egcheck&mode=0755", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("uploading the guest client: %d %s", resp.StatusCode, body)
	}
}

// lookupA asks the gateway for name's A record from inside a sandbox and
// returns the addresses answered ("" for none, "NXDOMAIN" for a refusal).
// UDP on a loaded machine loses answers now and then, so a query that got
// no answer at all is asked again.
func lookupA(t *testing.T, d *nsVolantd, id, gw, name string) string {
	t.Helper()
	var last execResult
	for range 4 {
		last = d.sh(t, id, "nslookup -type=a "+name+" "+gw)
		switch {
		case strings.Contains(last.Stdout, "NXDOMAIN"):
			return "NXDOMAIN"
		case strings.Contains(last.Stdout, "Name:"):
			var addrs []string
			for _, l := range strings.Split(last.Stdout, "\n") {
				if a, ok := strings.CutPrefix(strings.TrimSpace(l), "Address:"); ok && !strings.Contains(a, ":53") {
					addrs = append(addrs, strings.TrimSpace(a))
				}
			}
			return strings.Join(addrs, ",")
		}
	}
	t.Logf("nslookup %s in %s got no answer: %+v", name, id, last)
	return ""
}

// fileHolds reports whether the file at path contains s.
func fileHolds(t *testing.T, path, s string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("reading %s: %v", path, err)
		return false
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	var tail []byte
	for {
		n, err := io.ReadFull(r, buf)
		chunk := append(tail, buf[:n]...)
		if bytes.Contains(chunk, []byte(s)) {
			return true
		}
		if len(chunk) > len(s) {
			tail = append([]byte(nil), chunk[len(chunk)-len(s):]...)
		}
		if err != nil {
			return false
		}
	}
}

// testPKI makes a CA and a leaf for names.
func testPKI(t *testing.T, names ...string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "egress e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
