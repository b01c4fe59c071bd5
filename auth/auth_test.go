package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
)

func newAuth(t *testing.T) (*auth.Auth, *authtest.Store) {
	t.Helper()
	st := authtest.NewStore()
	return auth.New(st, nil), st
}

func TestCreateFormatAndCheck(t *testing.T) {
	a, _ := newAuth(t)
	ctx := context.Background()
	tok, rec, err := a.Create(ctx, "ci", auth.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, auth.Prefix) || len(tok) != len(auth.Prefix)+43 {
		t.Errorf("token %q: want vol_ + 43 base64url characters", tok)
	}
	got, err := a.Check(ctx, tok)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if got.ID != rec.ID || got.Name != "ci" {
		t.Errorf("Check = %+v, want id %s name ci", got, rec.ID)
	}
	if _, _, err := a.Create(ctx, "bad name!", auth.CreateOptions{}); err == nil {
		t.Error("Create accepted a bad name")
	}
}

func TestRevoke(t *testing.T) {
	a, _ := newAuth(t)
	ctx := context.Background()
	tok, rec, err := a.Create(ctx, "x", auth.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check(ctx, tok); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("Check after revoke = %v, want a revoked error", err)
	}
	if err := a.Revoke(ctx, "nope"); err == nil {
		t.Error("Revoke of an unknown id succeeded")
	}
}

func TestTouchAtMostOncePerMinute(t *testing.T) {
	a, st := newAuth(t)
	ctx := context.Background()
	tok, _, err := a.Create(ctx, "x", auth.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := a.Check(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.Touches(); got != 1 {
		t.Errorf("touches after 5 checks = %d, want 1", got)
	}
}

func TestEnsureAdminToken(t *testing.T) {
	a, _ := newAuth(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state", "token")

	tok, created, err := a.EnsureAdminToken(ctx, path)
	if err != nil || !created {
		t.Fatalf("first EnsureAdminToken = %v, %v; want created", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %o, want 600", fi.Mode().Perm())
	}
	tok2, created, err := a.EnsureAdminToken(ctx, path)
	if err != nil || created || tok2 != tok {
		t.Fatalf("second EnsureAdminToken = %q, %v, %v; want the same token reused", tok2, created, err)
	}

	// A revoked token in the file is replaced.
	rec, err := a.Check(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	tok3, created, err := a.EnsureAdminToken(ctx, path)
	if err != nil || !created || tok3 == tok {
		t.Fatalf("EnsureAdminToken after revoke = %v, %v; want a new token", created, err)
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != tok3 {
		t.Errorf("token file holds %q, want %q", data, tok3)
	}
}

func TestMiddleware(t *testing.T) {
	a, _ := newAuth(t)
	ctx := context.Background()
	tok, rec, err := a.Create(ctx, "x", auth.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	revoked, rrec, _ := a.Create(ctx, "y", auth.CreateOptions{})
	if err := a.Revoke(ctx, rrec.ID); err != nil {
		t.Fatal(err)
	}
	var gotQuery string
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := auth.FromContext(r.Context())
		if !ok || got.ID != rec.ID {
			t.Errorf("FromContext = %+v, %v", got, ok)
		}
		gotQuery = r.URL.RawQuery
		w.WriteHeader(http.StatusNoContent)
	}))
	tests := []struct {
		name   string
		header string
		query  string
		accept string
		method string
		want   int
	}{
		{"missing", "", "", "", "", 401},
		{"wrong", "Bearer " + auth.Prefix + strings.Repeat("A", 43), "", "", "", 401},
		{"malformed", "Bearer nope", "", "", "", 401},
		{"basic scheme", "Basic " + tok, "", "", "", 401},
		{"revoked", "Bearer " + revoked, "", "", "", 401},
		{"header", "Bearer " + tok, "", "", "", 204},
		{"query on a plain GET", "", "a=1&access_token=" + tok, "application/json", "", 401},
		{"query on a POST", "", "a=1&access_token=" + tok, "text/event-stream", "POST", 401},
		{"query", "", "a=1&access_token=" + tok, "application/json, text/event-stream", "", 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := httptest.NewRequest(method, "/mcp?"+tt.query, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tt.want, w.Body)
			}
			if tt.want != 401 {
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != 401 || !strings.Contains(p.Detail, "STATE_DIR/token") || !strings.Contains(p.Detail, "volar token create") {
				t.Errorf("problem = %+v; want status 401 and a detail saying how to get a token", p)
			}
		})
	}
	if gotQuery != "a=1" {
		t.Errorf("query after auth = %q, want the access_token removed", gotQuery)
	}
}

func TestMiddlewareTwice(t *testing.T) {
	a, _ := newAuth(t)
	tok, _, err := a.Create(context.Background(), "x", auth.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Middleware(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/mcp?access_token="+tok, nil)
	r.Header.Set("Accept", "text/event-stream")
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNoContent {
		t.Errorf("query token through two middlewares: status %d, want 204", w.Code)
	}
}
