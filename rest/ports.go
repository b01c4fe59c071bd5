package rest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/sandbox"
)

func (s *server) portRoutes() {
	s.mux.HandleFunc("/v1/sandboxes/{id}/ports/{port}/{path...}", s.proxyPort)
	s.mux.HandleFunc("/v1/sandboxes/{id}/ports/{port}", func(w http.ResponseWriter, r *http.Request) {
		// Relative links of the guest's pages need the trailing slash.
		u := *r.URL
		u.Path += "/"
		u.RawPath = ""
		http.Redirect(w, r, u.RequestURI(), http.StatusPermanentRedirect)
	})
	desc := "Reverse-proxies the request, of any method, to TCP port {port} on the sandbox's loopback through the agent channel " +
		"(the guest needs no network). WebSocket upgrades pass through. For API clients with a bearer token; browsers should use the guest origin of POST /v1/sandboxes/{id}/port-urls. " +
		"Authorization, Cookie, Referer and ?access_token= are not forwarded, and the answer carries a CSP sandbox (guest pages get an opaque origin, not the API's). " +
		"Answers 502 when nothing listens on the port."
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		o := op(m, "/v1/sandboxes/{id}/ports/{port}/{path}", strings.ToLower(m)+"-port", "ports",
			"Proxy "+m+" to a port in the sandbox", desc,
			http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusBadGateway, http.StatusServiceUnavailable)
		var body = binaryBody("Forwarded as is.", "application/octet-stream")
		if m == http.MethodGet || m == http.MethodDelete {
			body = nil
		}
		if body != nil {
			body.Required = false
		}
		s.document(o, body, binaryResponse("The guest server's answer, as is.", "application/octet-stream"))
	}
}

func (s *server) proxyPort(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	port, err := strconv.Atoi(r.PathValue("port"))
	if err == nil && (port < 1 || port > 65535) {
		err = errors.New("out of range")
	}
	if err != nil {
		s.writeError(w, r, "proxy", errdefs.Invalid("port %q: use a TCP port number from 1 to 65535", truncate(r.PathValue("port"), 20)))
		return
	}
	g, ok := s.guestOf(w, r, "proxy")
	if !ok {
		return
	}
	prefix := "/v1/sandboxes/" + id + "/ports/" + strconv.Itoa(port)
	rest, found := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !found {
		rest = "/" + r.PathValue("path")
	}
	s.proxy(w, r, g, id, port, rest, prefix, true)
}

// proxy forwards r to port in the guest g at the escaped path rest. On
// the API's origin (prefix set, sandboxed) the guest's answer is put in an
// opaque origin; on a guest origin it is served as is.
func (s *server) proxy(w http.ResponseWriter, r *http.Request, g *sandbox.Guest, id string, port int, rest, prefix string, sandboxed bool) {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := fmt.Sprintf("127.0.0.1:%d", port)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = target
			pr.Out.Host = target
			pr.Out.URL.RawPath = rest
			if p, err := unescapePath(rest); err == nil {
				pr.Out.URL.Path = p
			} else {
				pr.Out.URL.Path = "/" + strings.TrimPrefix(r.PathValue("path"), "/")
				pr.Out.URL.RawPath = ""
			}
			stripCredentials(pr.Out, !sandboxed)
			pr.SetXForwarded()
			if prefix != "" {
				pr.Out.Header.Set("X-Forwarded-Prefix", prefix)
			}
		},
		// Guest content on the API's origin runs in an opaque origin
		// of its own (CSP sandbox, no allow-same-origin): its scripts
		// cannot read the API's storage or call it as the page's user.
		// Browsers should use the guest origin (guestorigin.go).
		ModifyResponse: func(resp *http.Response) error {
			if sandboxed {
				resp.Header.Add("Content-Security-Policy", guestSandboxCSP)
				resp.Header.Set("Referrer-Policy", "no-referrer")
			}
			return nil
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return g.DialPort(ctx, port)
			},
			// One tunnel per request: tunnels are cheap and the agent
			// client of a sandbox may change across restarts.
			DisableKeepAlives:  true,
			DisableCompression: true,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var ae *client.Error
			if errors.As(err, &ae) && ae.Status == http.StatusBadGateway {
				writeProblem(w, http.StatusBadGateway, fmt.Sprintf(
					"nothing listens on port %d in sandbox %s: start the server first, listening on 127.0.0.1 or 0.0.0.0", port, id))
				return
			}
			if r.Context().Err() != nil {
				return
			}
			status, detail := classify(err)
			if status == http.StatusInternalServerError {
				status, detail = http.StatusBadGateway, fmt.Sprintf("proxying to port %d in sandbox %s failed: %v", port, id, err)
			}
			s.log.Debug("proxy", "sandbox", id, "port", port, "err", err)
			writeProblem(w, status, detail)
		},
	}
	proxy.ServeHTTP(w, r)
}

func unescapePath(p string) (string, error) { return url.PathUnescape(p) }

// guestSandboxCSP puts guest pages served on the API's own origin in an
// opaque origin: scripts, forms and popups work, same-origin access to the
// API does not.
const guestSandboxCSP = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"

// stripCredentials removes from a request bound for a guest everything
// that belongs to the API and not to the guest: the token (Authorization
// and ?access_token=), the Referer (which may hold a token in its query)
// and cookies: on the API's origin all of them (they are the API
// origin's), on a guest origin only the port pass (portCookie), the rest
// being the guest's own.
func stripCredentials(out *http.Request, guestOrigin bool) {
	cookies := out.Cookies()
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie", "Referer"} {
		out.Header.Del(h)
	}
	if guestOrigin {
		for _, c := range cookies {
			if c.Name != portCookie {
				out.AddCookie(c)
			}
		}
	}
	q := out.URL.Query()
	if q.Has(auth.QueryParam) || q.Has(portSigParam) {
		q.Del(auth.QueryParam)
		q.Del(portSigParam)
		out.URL.RawQuery = q.Encode()
	}
}
