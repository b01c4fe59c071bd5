package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// QueryParam is the query parameter that may carry the token for clients
// that cannot set headers (browsers' WebSocket and EventSource).
const QueryParam = "access_token"

type ctxKey struct{}

// FromContext returns the token record of an authenticated request.
func FromContext(ctx context.Context) (*Token, bool) {
	t, ok := ctx.Value(ctxKey{}).(*Token)
	return t, ok
}

// Middleware lets through only requests that carry a valid token whose
// scope allows the route, in "Authorization: Bearer <token>" or, on
// WebSocket upgrades and EventSource GETs only, the access_token query
// parameter (which is then removed from the request). Others get a 401 or
// 403 application/problem+json answer saying what to do. The route is the
// request's method and first path segment ("POST /mcp"), looked up in the
// scope table; it is for the MCP transports, mounted at a prefix. The
// token's record is in the request context (FromContext), and the context
// ends when the token is revoked or expires (Watch).
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return a.guard(a.mcpTokenInfo(next), func(r *http.Request) (string, bool) {
		seg, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		return RouteKey(r.Method, "/"+seg), true
	})
}

// Authorize is Middleware for the routes of mux: a request's route is the
// pattern mux routes it to, and a request mux has no route for needs only a
// valid token (mux then answers it 404 or 405).
func (a *Auth) Authorize(mux *http.ServeMux) http.Handler {
	return a.guard(mux, func(r *http.Request) (string, bool) {
		_, pattern := mux.Handler(r)
		if pattern == "" {
			return "", false
		}
		return RouteKey(r.Method, pattern), true
	})
}

// guard authenticates r, checks the scope of the route route names, and
// serves next with a watched context.
func (a *Auth) guard(next http.Handler, route func(*http.Request) (string, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); ok {
			// An outer Middleware already checked this request (and
			// removed a query token): wrapping twice is harmless.
			next.ServeHTTP(w, r)
			return
		}
		tok, err := tokenOf(r)
		if err != nil {
			a.deny(w, r, err)
			return
		}
		rec, err := a.Check(r.Context(), tok)
		if err != nil {
			a.deny(w, r, err)
			return
		}
		if key, ok := route(r); ok {
			need, _ := RouteScope(key)
			if err := rec.require(need, key); err != nil {
				a.deny(w, r, err)
				return
			}
		}
		ctx, stop := a.Watch(context.WithValue(r.Context(), ctxKey{}, rec), rec)
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// tokenOf extracts the token of r, removing a query-parameter token from
// r.URL so that it is not logged or forwarded. A query token is taken only
// on a WebSocket upgrade or an EventSource GET (Accept: text/event-stream):
// clients that can set headers must, and no mutation is ever authorized by
// a URL that can leak through logs or a Referer.
func tokenOf(r *http.Request) (string, error) {
	q := r.URL.Query()
	qtok := q.Get(QueryParam)
	if q.Has(QueryParam) {
		q.Del(QueryParam)
		r.URL.RawQuery = q.Encode()
		r.RequestURI = r.URL.RequestURI()
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", errUnauthenticated("the Authorization header is not \"Bearer <token>\"")
		}
		return strings.TrimSpace(tok), nil
	}
	if qtok != "" {
		if !QueryTokenAllowed(r) {
			return "", errUnauthenticated("?" + QueryParam + "= is taken only on WebSocket upgrades and EventSource (Accept: text/event-stream) GETs; " +
				"send the token in the Authorization header instead")
		}
		return qtok, nil
	}
	return "", errUnauthenticated("the request carries no token")
}

// QueryTokenAllowed reports whether r may carry its token in the query: a
// GET that upgrades to a WebSocket or asks for an event stream.
func QueryTokenAllowed(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return true
	}
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
				return true
			}
		}
	}
	return false
}

// problem is an RFC 9457 problem document.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func (a *Auth) deny(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusUnauthorized
	detail := err.Error()
	if errors.Is(err, ErrForbidden) {
		status = http.StatusForbidden
	} else if !errors.Is(err, errdefs.ErrUnauthenticated) {
		a.logger.Error("checking token", "err", err, "path", r.URL.Path)
		status = http.StatusServiceUnavailable
		detail = "the token could not be checked right now; retry shortly"
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="volant"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Title: http.StatusText(status), Status: status, Detail: detail})
}
