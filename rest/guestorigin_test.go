package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/volant-sh/volant/auth"
)

// headerEcho serves what a guest server saw of each request.
func headerEcho(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"cookie": r.Header.Get("Cookie"), "referer": r.Header.Get("Referer"),
			"authorization": r.Header.Get("Authorization"), "query": r.URL.RawQuery, "path": r.URL.Path,
		})
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func seen(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	var m map[string]string
	want(t, resp, http.StatusOK, &m)
	return m
}

func (e *env) sandbox(t *testing.T) string {
	var sb struct {
		ID string `json:"id"`
	}
	want(t, e.do("POST", "/v1/sandboxes", map[string]any{}), http.StatusCreated, &sb)
	return sb.ID
}

// TestPortProxyForwardsNoCredentials: the path route is for API clients;
// the guest never sees the API's token, cookies or Referer, and its pages
// get an opaque origin (CSP sandbox) instead of the API's.
func TestPortProxyForwardsNoCredentials(t *testing.T) {
	e := newEnv(t)
	id, port := e.sandbox(t), headerEcho(t)
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/sandboxes/%s/ports/%d/page?x=1&access_token=%s", e.srv.URL, id, port, e.token), nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Cookie", "session=api-secret")
	req.Header.Set("Referer", e.srv.URL+"/docs?access_token="+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := seen(t, resp)
	if got["cookie"] != "" || got["referer"] != "" || got["authorization"] != "" || strings.Contains(got["query"], "access_token") {
		t.Errorf("the guest saw %v", got)
	}
	if got["query"] != "x=1" || got["path"] != "/page" {
		t.Errorf("the guest got %v, want /page?x=1", got)
	}
	if csp := resp.Header.Values("Content-Security-Policy"); len(csp) == 0 || !strings.HasPrefix(csp[len(csp)-1], "sandbox") {
		t.Errorf("Content-Security-Policy %q, want a sandbox policy", csp)
	}
	if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q", rp)
	}
}

// TestGuestOrigin: a port on its own origin needs a signed URL or an
// operator token; the signature becomes a cookie of that origin only, and
// nothing of it reaches the guest.
func TestGuestOrigin(t *testing.T) {
	e := newEnv(t)
	id, port := e.sandbox(t), headerEcho(t)
	host := fmt.Sprintf("%d-%s.localhost", port, id)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, h http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Host = host
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	wantProblem(t, get("/", nil), http.StatusUnauthorized, "signed URL")
	// The API's own token opens it (operator scope) ...
	got := seen(t, get("/x", http.Header{"Authorization": {"Bearer " + e.token}}))
	if got["authorization"] != "" || got["path"] != "/x" {
		t.Errorf("with a token the guest saw %v", got)
	}
	// ... a read-only token does not.
	ro, _, err := e.auth.Create(context.Background(), "ro", auth.CreateOptions{Scope: auth.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, get("/", http.Header{"Authorization": {"Bearer " + ro}}), http.StatusForbidden, "operator")

	var pu struct {
		URL, Origin string
	}
	want(t, e.do("POST", "/v1/sandboxes/"+id+"/port-urls", map[string]any{"port": port}), http.StatusCreated, &pu)
	u, err := url.Parse(pu.URL)
	if err != nil || u.Hostname() != host || u.Query().Get("volant_sig") == "" {
		t.Fatalf("port URL %q, want one on %s with a signature", pu.URL, host)
	}
	// The signature of another port is refused.
	other := fmt.Sprintf("%d-%s.localhost", port+1, id)
	req, _ := http.NewRequest("GET", e.srv.URL+"/?"+u.RawQuery, nil)
	req.Host = other
	if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("another port's signature: %v %v, want 401", resp.StatusCode, err)
	}

	resp := get("/page?"+u.RawQuery+"&keep=1", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/page?keep=1" {
		t.Fatalf("signed URL: %d to %q, want 303 to /page?keep=1", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].Domain != "" {
		t.Fatalf("cookies %+v, want one host-only HttpOnly cookie", cookies)
	}
	// The guest's own cookies are its own; the pass is not forwarded.
	got = seen(t, get("/page?keep=1", http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value + "; guest=mine"}}))
	if got["cookie"] != "guest=mine" || got["query"] != "keep=1" {
		t.Errorf("with the cookie the guest saw %v", got)
	}
	wantProblem(t, get("/", http.Header{"Cookie": {cookies[0].Name + "=1.forged"}}), http.StatusUnauthorized, "not valid")

	wantProblem(t, e.do("POST", "/v1/sandboxes/"+id+"/port-urls", map[string]any{"port": 0}), http.StatusBadRequest, "port 0")
	wantProblem(t, e.do("POST", "/v1/sandboxes/"+id+"/port-urls", map[string]any{"port": 80, "ttl_s": 86401}), http.StatusBadRequest, "ttl_s")
	wantProblem(t, e.do("POST", "/v1/sandboxes/nope/port-urls", map[string]any{"port": 80}), http.StatusNotFound)
}

// TestAPIPagesSendNoReferrer: API answers (JSON, problems, /docs) carry
// Referrer-Policy: no-referrer and a Content-Security-Policy.
func TestAPIPagesSendNoReferrer(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/sandboxes", "/v1/sandboxes/nope", "/docs", "/healthz"} {
		resp := e.do("GET", path, nil)
		io.Copy(io.Discard, resp.Body)
		if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", path, rp)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
}

// TestGuestOriginPassesTheRebindingGuard: the daemon's HostGuard takes a
// guest origin's *.localhost Host on a loopback listener, and still
// refuses other names.
func TestGuestOriginPassesTheRebindingGuard(t *testing.T) {
	e := newEnv(t)
	id, port := e.sandbox(t), headerEcho(t)
	srv := httptest.NewServer(auth.HostGuard(nil, e.srv.Config.Handler))
	t.Cleanup(srv.Close)
	for host, status := range map[string]int{
		fmt.Sprintf("%d-%s.localhost", port, id):    http.StatusOK,
		fmt.Sprintf("%d-%s.evil.example", port, id): http.StatusForbidden,
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, status)
		}
	}
}
