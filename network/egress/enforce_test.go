package egress

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestEnforce drives the resolver, the proxy and the firewall from a
// namespace playing the guest, against an outside namespace with its own
// DNS, HTTP and HTTPS servers.
func TestEnforce(t *testing.T) {
	w := newWorld(t, true)
	w.attach(t, Policy{Default: Deny, Allow: []string{"allowed.test", "*.wild.test", "api.secret.test"}})
	testRoots := pool(testCAPEM)

	t.Run("allowed name answers", func(t *testing.T) {
		if got := w.resolve(t, "allowed.test"); got != outA {
			t.Fatalf("allowed.test resolved to %q, want %s", got, outA)
		}
		body, err := w.get("https://allowed.test/", outA+":443", testRoots, nil)
		if err != nil || !strings.Contains(body, "host=allowed.test") {
			t.Fatalf("https://allowed.test: %v %q", err, body)
		}
		body, err = w.get("http://allowed.test/", outA+":80", nil, nil)
		if err != nil || !strings.Contains(body, "host=allowed.test") {
			t.Fatalf("http://allowed.test: %v %q", err, body)
		}
	})
	t.Run("glob", func(t *testing.T) {
		if got := w.resolve(t, "cdn.wild.test"); got != outB {
			t.Fatalf("cdn.wild.test resolved to %q, want %s", got, outB)
		}
		if got := w.resolve(t, "wild.test"); got != "" {
			t.Fatalf("wild.test resolved to %q; *.wild.test must not match the name itself", got)
		}
	})
	t.Run("denied name is NXDOMAIN and its address does not connect", func(t *testing.T) {
		m, err := w.query(t, gateway, "denied.test")
		if err != nil || m.Rcode != dns.RcodeNameError {
			t.Fatalf("denied.test: %v %v, want NXDOMAIN", err, m)
		}
		if _, err := w.get("https://denied.test/", outB+":443", testRoots, nil); err == nil {
			t.Fatal("https://denied.test connected")
		}
		body, err := w.get("http://denied.test/", outB+":80", nil, nil)
		if err == nil || !strings.Contains(body, "egress policy") {
			t.Fatalf("http://denied.test: %v %q, want a 403 from the proxy", err, body)
		}
	})
	t.Run("raw address outside the policy", func(t *testing.T) {
		// No SNI: an https client to an IP sends none.
		if _, err := w.get("https://"+outB+"/", outB+":443", testRoots, nil); err == nil {
			t.Fatal("raw IP connected")
		}
		// A server that speaks first: the proxy hears nothing and judges by address.
		c, err := w.dialGuest("tcp4", outB+":22")
		if err == nil {
			b, _ := io.ReadAll(c)
			c.Close()
			if len(b) > 0 {
				t.Fatalf("raw TCP to %s:22 got %q", outB, b)
			}
		}
	})
	t.Run("other DNS server", func(t *testing.T) {
		if m, err := w.query(t, outA, "allowed.test"); err == nil {
			t.Fatalf("direct query to %s answered: %v", outA, m)
		}
		var m *dns.Msg
		var err error
		in(t, w.guest, func() error {
			c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
			q := new(dns.Msg)
			q.SetQuestion("allowed.test.", dns.TypeA)
			m, _, err = c.Exchange(q, outA+":53")
			return nil
		})
		if err == nil {
			t.Fatalf("direct query over TCP to %s answered: %v", outA, m)
		}
	})
	t.Run("allowed SNI to another address", func(t *testing.T) {
		// allowed.test resolved to outA; outB serves a certificate for it too.
		if _, err := w.get("https://allowed.test/", outB+":443", testRoots, nil); err == nil {
			t.Fatal("SNI allowed.test to " + outB + " connected")
		}
	})
	t.Run("IPv6", func(t *testing.T) {
		c, err := w.dialGuest("tcp6", "[fd00:88::1]:3129")
		if err == nil {
			c.Close()
			t.Fatal("IPv6 connected to the host")
		}
		if !strings.Contains(err.Error(), "refused") && !strings.Contains(err.Error(), "unreachable") && !strings.Contains(err.Error(), "prohibited") {
			t.Logf("IPv6 refused with %v", err)
		}
	})
	t.Run("UDP other than DNS", func(t *testing.T) {
		c, err := w.dialGuest("udp4", outA+":9999")
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("x"))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 10))
		// The firewall's ICMP admin-prohibited shows as "no route to host".
		if err == nil || os.IsTimeout(err) {
			t.Fatalf("UDP read: %v, want an error from the firewall's ICMP answer", err)
		}
	})
	t.Run("policy change applies to new connections", func(t *testing.T) {
		w.attach(t, Policy{Default: Deny, Allow: []string{"denied.test", outB + "/32"}})
		if got := w.resolve(t, "denied.test"); got != outB {
			t.Fatalf("denied.test after the change: %q, want %s", got, outB)
		}
		if got := w.resolve(t, "allowed.test"); got != "" {
			t.Fatalf("allowed.test after the change: %q, want NXDOMAIN", got)
		}
		if _, err := w.get("https://allowed.test/", outA+":443", testRoots, nil); err == nil {
			t.Fatal("allowed.test still connects after the change")
		}
		c, err := w.dialGuest("tcp4", outB+":22")
		if err != nil {
			t.Fatalf("raw TCP to a CIDR-allowed address: %v", err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(b), "SSH-2.0") {
			t.Fatalf("raw TCP to a CIDR-allowed address got %q", b)
		}
	})
	t.Run("denials are counted and reported", func(t *testing.T) {
		st := w.svc.Stats("sbx-test")
		if st.DNSDenied == 0 || st.ConnDenied == 0 || st.DNSAllowed == 0 || st.ConnAllowed == 0 {
			t.Fatalf("stats %+v: want every counter above zero", st)
		}
		select {
		case d := <-w.denials:
			if d.Sandbox != "sbx-test" || d.Reason == "" {
				t.Fatalf("denial %+v", d)
			}
		default:
			t.Fatal("no denial reported")
		}
	})
}

// TestSecrets checks that a secret's value replaces its placeholder only on
// connections to the secret's host, and is never logged.
func TestSecrets(t *testing.T) {
	w := newWorld(t, true)
	const value = "sk-very-secret-value-0123456789"
	const placeholder = "volant-secret-0f0f0f0f0f0f0f0f"
	w.attach(t, Policy{Default: Deny, Allow: []string{"allowed.test", "api.secret.test"}},
		Secret{Placeholder: placeholder, Value: value, Hosts: []string{"api.secret.test"}})
	roots := pool(w.svc.CACertPEM())
	if got := w.resolve(t, "api.secret.test"); got != outA {
		t.Fatalf("api.secret.test: %q", got)
	}
	if got := w.resolve(t, "allowed.test"); got != outA {
		t.Fatalf("allowed.test: %q", got)
	}
	h := http.Header{"Authorization": {"Bearer " + placeholder}, "X-Other": {"keep"}}
	body, err := w.get("https://api.secret.test/v1", outA+":443", roots, h)
	if err != nil {
		t.Fatalf("secret host: %v %q", err, body)
	}
	if !strings.Contains(body, "Authorization: Bearer "+value) || !strings.Contains(body, "X-Other: keep") {
		t.Fatalf("upstream of the secret's host saw:\n%s\nwant the value in Authorization", body)
	}
	// Another allowed host gets the placeholder, not the value. It is not
	// intercepted, so the guest sees the real (test CA) certificate.
	body, err = w.get("https://allowed.test/", outA+":443", pool(testCAPEM), h)
	if err != nil {
		t.Fatalf("other host: %v", err)
	}
	if strings.Contains(body, value) || !strings.Contains(body, placeholder) {
		t.Fatalf("upstream of another host saw:\n%s\nwant the placeholder only", body)
	}
	if st := w.svc.Stats("sbx-test"); st.SecretsInjected != 1 {
		t.Fatalf("secrets injected %d, want 1", st.SecretsInjected)
	}
	// Bodies only for secrets that ask for it.
	post := func(body string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", "https://api.secret.test/echo", strings.NewReader(body))
		resp, err := w.client(outA+":443", roots).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := post(`{"key":"` + placeholder + `"}`); !strings.Contains(got, "body="+`{"key":"`+placeholder+`"}`) {
		t.Fatalf("a secret without in_body changed the body: %q", got)
	}
	w.attach(t, Policy{Default: Deny, Allow: []string{"api.secret.test"}},
		Secret{Placeholder: placeholder, Value: value, Hosts: []string{"api.secret.test"}, InBody: true})
	if got := post(`{"key":"` + placeholder + `"}`); !strings.Contains(got, "body="+`{"key":"`+value+`"}`) {
		t.Fatalf("in_body: upstream saw %q", got)
	}
	if strings.Contains(w.logs.String(), value) {
		t.Fatal("the service's log holds the secret's value")
	}
}

// TestUnknownSource refuses guests the Service was not told of.
func TestUnknownSource(t *testing.T) {
	w := newWorld(t, true)
	m, err := w.query(t, gateway, "allowed.test")
	if err != nil || m.Rcode != dns.RcodeRefused {
		t.Fatalf("query from an unknown guest: %v %v, want REFUSED", err, m)
	}
	if _, err := w.get("http://allowed.test/", outA+":80", nil, nil); err == nil {
		t.Fatal("an unknown guest connected")
	}
}

// TestOtherResolversOverTCP refuses TCP DNS to other servers even under
// default allow, where a raw address would otherwise pass.
func TestOtherResolversOverTCP(t *testing.T) {
	w := newWorld(t, true)
	w.attach(t, Policy{Default: Allow})
	if _, err := w.get("http://allowed.test/", outA+":80", nil, nil); err != nil {
		t.Fatalf("default allow: %v", err)
	}
	before := w.svc.Stats("sbx-test")
	if c, err := w.dialGuest("tcp4", outA+":53"); err == nil {
		_, _ = c.Write([]byte{0, 1})
		_, _ = io.ReadAll(c)
		c.Close()
	}
	after := w.svc.Stats("sbx-test")
	if after.ConnDenied != before.ConnDenied+1 || after.ConnAllowed != before.ConnAllowed {
		t.Fatalf("stats before %+v, after %+v: want the TCP DNS connection denied", before, after)
	}
}
