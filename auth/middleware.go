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

// Middleware lets through only requests that carry a valid token, in
// "Authorization: Bearer <token>" or the access_token query parameter
// (which is then removed from the request). Others get a 401
// application/problem+json answer saying how to get a token. The token's
// record is in the request context (FromContext).
func (a *Auth) Middleware(next http.Handler) http.Handler {
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
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, rec)))
	})
}

// tokenOf extracts the token of r, removing a query-parameter token from
// r.URL so that it is not logged or forwarded.
func tokenOf(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", errUnauthenticated("the Authorization header is not \"Bearer <token>\"")
		}
		return strings.TrimSpace(tok), nil
	}
	q := r.URL.Query()
	if tok := q.Get(QueryParam); tok != "" {
		q.Del(QueryParam)
		r.URL.RawQuery = q.Encode()
		r.RequestURI = r.URL.RequestURI()
		return tok, nil
	}
	return "", errUnauthenticated("the request carries no token")
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
	if !errors.Is(err, errdefs.ErrUnauthenticated) {
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
