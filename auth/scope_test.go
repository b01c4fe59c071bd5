package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/volant-sh/volant/auth"
)

// TestScopesOnRoutes checks the table through Authorize over a mux with a
// few of the API's routes: read only reads, operator works sandboxes, and
// only admin manages tokens and installs plugins.
func TestScopesOnRoutes(t *testing.T) {
	a, _ := newAuth(t)
	ctx := context.Background()
	toks := map[auth.Scope]string{}
	for _, s := range auth.Scopes {
		tok, rec, err := a.Create(ctx, string(s), auth.CreateOptions{Scope: s})
		if err != nil || rec.Scope != s {
			t.Fatalf("Create %s: %v, scope %q", s, err, rec.Scope)
		}
		toks[s] = tok
	}
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, p := range []string{"GET /v1/sandboxes/{id}", "POST /v1/sandboxes/{id}/exec", "GET /v1/sandboxes/{id}/exec/stream",
		"PUT /v1/sandboxes/{id}/files", "GET /v1/sandboxes/{id}/files", "/v1/sandboxes/{id}/ports/{port}/{path...}",
		"GET /v1/tokens", "POST /v1/tokens", "POST /v1/plugins", "GET /v1/plugins", "POST /v1/sandboxes/{id}/actions/{plugin}/{action}",
		"GET /v1/unlisted"} {
		mux.Handle(p, ok)
	}
	h := a.Authorize(mux)
	tests := []struct {
		method, path string
		read, op     int // admin may do everything
	}{
		{"GET", "/v1/sandboxes/sb1", 204, 204},
		{"HEAD", "/v1/sandboxes/sb1", 204, 204},
		{"GET", "/v1/sandboxes/sb1/files?path=/etc/hosts", 204, 204},
		{"POST", "/v1/sandboxes/sb1/exec", 403, 204},
		{"GET", "/v1/sandboxes/sb1/exec/stream", 403, 204},
		{"PUT", "/v1/sandboxes/sb1/files?path=/x", 403, 204},
		{"GET", "/v1/sandboxes/sb1/ports/80/", 403, 204},
		{"POST", "/v1/sandboxes/sb1/ports/80/x", 403, 204},
		{"POST", "/v1/sandboxes/sb1/actions/echo/run", 403, 204},
		{"GET", "/v1/plugins", 204, 204},
		{"POST", "/v1/plugins", 403, 403},
		{"GET", "/v1/tokens", 403, 403},
		{"POST", "/v1/tokens", 403, 403},
		{"GET", "/v1/unlisted", 403, 403}, // not in the table: admin only
		{"GET", "/v1/nothing-here", 404, 404},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			scope auth.Scope
			want  int
		}{{auth.ScopeRead, tt.read}, {auth.ScopeOperator, tt.op}, {auth.ScopeAdmin, 204}} {
			want := c.want
			if tt.op == 404 {
				want = 404
			}
			r := httptest.NewRequest(tt.method, tt.path, nil)
			r.Header.Set("Authorization", "Bearer "+toks[c.scope])
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != want {
				t.Errorf("%s %s with a %s token: %d, want %d (%s)", tt.method, tt.path, c.scope, w.Code, want, w.Body)
			}
			if w.Code == 403 && !strings.Contains(w.Body.String(), "use a token with scope") {
				t.Errorf("%s %s: 403 without a remedy: %s", tt.method, tt.path, w.Body)
			}
		}
	}
}

func TestCreateScopeDefault(t *testing.T) {
	a, _ := newAuth(t)
	_, rec, err := a.Create(context.Background(), "plain", auth.CreateOptions{})
	if err != nil || rec.Scope != auth.ScopeOperator {
		t.Errorf("a token created without a scope: %v, scope %q; want operator", err, rec.Scope)
	}
	if _, _, err := a.Create(context.Background(), "bad", auth.CreateOptions{Scope: "root"}); err == nil {
		t.Error("a token with scope root was created")
	}
	if _, _, err := a.Create(context.Background(), "long", auth.CreateOptions{TTL: auth.MaxTTL + 1}); err == nil {
		t.Error("a token living longer than MaxTTL was created")
	}
}

func TestRouteKey(t *testing.T) {
	for _, tt := range []struct{ method, pattern, want string }{
		{"GET", "GET /v1/sandboxes/{id}", "GET /v1/sandboxes/{id}"},
		{"PATCH", "/v1/sandboxes/{id}/ports/{port}/{path...}", "PATCH /v1/sandboxes/{id}/ports/{port}/{path}"},
		{"GET", "/mcp", "GET /mcp"},
	} {
		if got := auth.RouteKey(tt.method, tt.pattern); got != tt.want {
			t.Errorf("RouteKey(%s, %s) = %q, want %q", tt.method, tt.pattern, got, tt.want)
		}
	}
}
