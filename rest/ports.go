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

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
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
		"(the guest needs no network). WebSocket upgrades pass through. The Authorization header is not forwarded. " +
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
				pr.Out.URL.Path = "/" + r.PathValue("path")
				pr.Out.URL.RawPath = ""
			}
			pr.Out.Header.Del("Authorization")
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Prefix", prefix)
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
