package rest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// Guest ports are served on origins of their own, by host name:
// http://<port>-<sandbox id>.localhost:<api port>/. Browsers resolve every
// *.localhost name to the loopback, so this works with the default
// loopback listener and no second port; each sandbox port is its own
// origin (and its own cookie jar: cookies ignore ports, so a second
// listener on 127.0.0.1 would have shared the API's), and the API's
// HostGuard already takes *.localhost on a loopback listener.
//
// A request to a guest origin carries a bearer token (operator scope) or a
// per-port signed URL from POST /v1/sandboxes/{id}/port-urls: its
// ?volant_sig= is traded once for a cookie of that origin only, and the
// browser is sent on to the same URL without it.
const (
	// guestBase is the parent domain of guest origins.
	guestBase = "localhost"
	// portSigParam carries a port URL's signature.
	portSigParam = "volant_sig"
	// portCookie holds the signature on the guest origin.
	portCookie = "volant_port"
)

// guestHost parses a guest origin's Host: "<port>-<id>.localhost[:p]".
func guestHost(host string) (port int, id string, ok bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, base, found := strings.Cut(strings.ToLower(host), ".")
	if !found || base != guestBase {
		return 0, "", false
	}
	p, id, found := strings.Cut(label, "-")
	if !found || id == "" {
		return 0, "", false
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 || strconv.Itoa(port) != p {
		return 0, "", false
	}
	return port, id, true
}

// serveGuestOrigin answers a request to a guest origin.
func (s *server) serveGuestOrigin(w http.ResponseWriter, r *http.Request, port int, id string) {
	ctx, stop, err := s.guestOriginAuth(w, r, port, id)
	if err != nil {
		status, detail := http.StatusUnauthorized, err.Error()
		if errors.Is(err, auth.ErrForbidden) {
			status = http.StatusForbidden
		}
		writeProblem(w, status, detail)
		return
	}
	if ctx == nil {
		return // redirected
	}
	defer stop()
	r = r.WithContext(ctx)
	g, err := s.eng.Guest(ctx, id)
	if err != nil {
		s.writeError(w, r, "proxy", err)
		return
	}
	s.proxy(w, r, g, id, port, r.URL.EscapedPath(), "", false)
}

// guestOriginAuth checks a guest origin request: a signature in the query
// (traded for a cookie and a redirect: nil context), a signature cookie,
// or an operator token. The context it returns ends when the token is
// revoked.
func (s *server) guestOriginAuth(w http.ResponseWriter, r *http.Request, port int, id string) (context.Context, func(), error) {
	q := r.URL.Query()
	if sig := q.Get(portSigParam); q.Has(portSigParam) {
		if err := s.ports.Verify(id, port, sig); err != nil {
			return nil, nil, err
		}
		exp, _, _ := strings.Cut(sig, ".")
		n, _ := strconv.ParseInt(exp, 10, 64)
		http.SetCookie(w, &http.Cookie{Name: portCookie, Value: sig, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteLaxMode, Expires: time.Unix(n, 0), Secure: r.TLS != nil})
		q.Del(portSigParam)
		u := *r.URL
		u.RawQuery = q.Encode()
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return nil, nil, nil
	}
	if c, err := r.Cookie(portCookie); err == nil {
		if err := s.ports.Verify(id, port, c.Value); err != nil {
			return nil, nil, err
		}
		return r.Context(), func() {}, nil
	}
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	if h == "" || !strings.EqualFold(scheme, "Bearer") {
		return nil, nil, fmt.Errorf("%w: port %d of sandbox %s needs a signed URL (POST /v1/sandboxes/%s/port-urls) or an Authorization: Bearer token with scope operator",
			errdefs.ErrUnauthenticated, port, id, id)
	}
	rec, err := s.auth.Check(r.Context(), strings.TrimSpace(tok))
	if err != nil {
		return nil, nil, err
	}
	if !rec.Scope.Allows(auth.ScopeOperator) {
		return nil, nil, fmt.Errorf("%w: token %s has scope %s, but a guest port needs %s", auth.ErrForbidden, rec.ID, rec.Scope, auth.ScopeOperator)
	}
	ctx, stop := s.auth.Watch(r.Context(), rec)
	return ctx, stop, nil
}

type portURLInput struct {
	ID   string `path:"id" maxLength:"128" doc:"Sandbox id or name."`
	Body struct {
		Port int `json:"port" minimum:"1" maximum:"65535" doc:"TCP port in the sandbox."`
		TTL  int `json:"ttl_s,omitempty" minimum:"0" maximum:"86400" doc:"Lifetime of the URL in seconds; 0 means one hour, at most a day."`
	}
}

// PortURL is a signed URL to a guest port on its own origin.
type PortURL struct {
	URL       string    `json:"url" doc:"Open it in a browser: it grants this port of this sandbox, and nothing else, until it expires."`
	Origin    string    `json:"origin" doc:"The port's own origin (scheme, host, port)."`
	ExpiresAt time.Time `json:"expires_at"`
}

type portURLOutput struct{ Body *PortURL }

func (s *server) portURLRoutes() {
	o := op(http.MethodPost, "/v1/sandboxes/{id}/port-urls", "create-port-url", "ports",
		"Create a signed URL to a port in the sandbox",
		"A URL of the port's own origin, http://<port>-<sandbox>.localhost:<api port>/, signed with the daemon's key "+
			"(HMAC, with an expiry): it grants the HTTP server on that port and nothing else. Browsers resolve *.localhost "+
			"to the loopback. The signature is traded for a cookie of that origin on first use. "+
			"Requests there may also carry an operator token in Authorization.",
		http.StatusBadRequest, http.StatusNotFound)
	o.DefaultStatus = http.StatusCreated
	huma.Register(s.api, engineChecked(o), func(ctx context.Context, in *portURLInput) (*portURLOutput, error) {
		if in.Body.Port < 1 || in.Body.Port > 65535 {
			return nil, s.fail(ctx, "port url", errdefs.Invalid("port %d: use a TCP port number from 1 to 65535", in.Body.Port))
		}
		ttl, err := auth.PortURLTTL(in.Body.TTL)
		if err != nil {
			return nil, s.fail(ctx, "port url", err)
		}
		if err := sandbox.ValidateID("sandbox id", in.ID); err != nil {
			return nil, s.fail(ctx, "port url", err)
		}
		sb, err := s.eng.Get(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, "port url", err)
		}
		exp := time.Now().Add(ttl).Truncate(time.Second)
		origin := s.guestOrigin(ctx, in.Body.Port, sb.ID)
		u := origin + "/?" + url.Values{portSigParam: {s.ports.Sign(sb.ID, in.Body.Port, exp)}}.Encode()
		return &portURLOutput{Body: &PortURL{URL: u, Origin: origin, ExpiresAt: exp.UTC()}}, nil
	})
}

// guestOrigin is the origin of a sandbox's port: under the configured
// listener port, else the port of the request's Host.
func (s *server) guestOrigin(ctx context.Context, port int, id string) string {
	scheme, hostPort := "http", s.guestPort
	if r, ok := ctx.Value(requestKey{}).(*http.Request); ok {
		if r.TLS != nil {
			scheme = "https"
		}
		if hostPort == "" {
			if _, p, err := net.SplitHostPort(r.Host); err == nil {
				hostPort = p
			}
		}
	}
	host := strconv.Itoa(port) + "-" + strings.ToLower(id) + "." + guestBase
	if hostPort != "" {
		host += ":" + hostPort
	}
	return scheme + "://" + host
}

// requestKey holds the request in its context, for guestOrigin.
type requestKey struct{}

// apiCSP is the policy of the API's own answers (JSON, problem documents):
// nothing loads, nothing frames them. /docs sets its own.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// apiHeaders sets the headers of every answer of the API's origin: no
// Referer leaves an API page (its URL may hold ?access_token=), and API
// answers load and run nothing. The port proxy's guest answers get a
// sandbox policy of their own instead (ports.go).
func apiHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	if !strings.Contains(r.URL.Path, "/ports/") && r.URL.Path != "/docs" {
		h.Set("Content-Security-Policy", apiCSP)
	}
}

// IsGuestHost reports whether host names a guest port's origin, whose
// every path belongs to the guest: the daemon sends such requests to the
// API handler before its own routes (/mcp).
func IsGuestHost(host string) bool {
	_, _, ok := guestHost(host)
	return ok
}
