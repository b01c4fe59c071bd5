package rest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

// BenchmarkListSandboxes measures GET /v1/sandboxes over the handler (auth,
// routing, validation, JSON encoding) with a 100-sandbox page from an
// in-memory engine, so the engine's own cost is left out.
func BenchmarkListSandboxes(b *testing.B) {
	st := authtest.NewStore()
	a := auth.New(st, nil)
	tok, _, err := a.Create(context.Background(), "bench", auth.CreateOptions{Scope: auth.ScopeAdmin})
	if err != nil {
		b.Fatal(err)
	}
	eng := newFakeEngine(b)
	for i := 0; i < 100; i++ {
		if _, err := eng.Create(context.Background(), sandbox.Spec{Labels: map[string]string{"team": "a"}}); err != nil {
			b.Fatal(err)
		}
	}
	h := rest.New(rest.Options{Manager: eng, Auth: a})
	req := httptest.NewRequest("GET", "/v1/sandboxes?state=running&label=team=a", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		io.Copy(io.Discard, w.Body)
	}
}
