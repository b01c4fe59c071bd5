package mcp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
)

// TestToolScopeTable: every built-in tool has an entry in auth's scope
// table (a tool added later without one would need admin).
func TestToolScopeTable(t *testing.T) {
	s := New(Options{Manager: newFakeEngine(t)})
	defer s.Close()
	if len(s.builtin) < 20 {
		t.Fatalf("only %d built-in tools", len(s.builtin))
	}
	for name := range s.builtin {
		if _, ok := auth.ToolScope(name, true); !ok {
			t.Errorf("tool %s has no entry in auth's scope table (auth/scope.go toolScopes)", name)
		}
	}
}

type bearer struct{ tok string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return http.DefaultTransport.RoundTrip(r)
}

// TestToolScopesOverHTTP: a read token lists but cannot create or exec;
// an operator token can; a session is bound to the token that opened it.
func TestToolScopesOverHTTP(t *testing.T) {
	s := New(Options{Manager: newFakeEngine(t)})
	defer s.Close()
	a := auth.New(authtest.NewStore(), nil)
	mux := http.NewServeMux()
	mux.Handle("/mcp", a.Middleware(s.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close) // after the sessions' Close (cleanups run last first)
	connect := func(scope auth.Scope) *sdk.ClientSession {
		tok, _, err := a.Create(context.Background(), string(scope), auth.CreateOptions{Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, nil).Connect(context.Background(),
			&sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: &http.Client{Transport: bearer{tok}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	read, op := connect(auth.ScopeRead), connect(auth.ScopeOperator)
	res := call(t, read, "sandbox_create", nil)
	if !res.IsError || !strings.Contains(resultText(res), "needs operator") {
		t.Errorf("sandbox_create with a read token: %+v", res)
	}
	if res := call(t, read, "sandbox_list", nil); res.IsError {
		t.Errorf("sandbox_list with a read token: %s", resultText(res))
	}
	id := ok[map[string]any](t, op, "sandbox_create", nil)["id"].(string)
	res = call(t, read, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"true"}})
	if !res.IsError || !strings.Contains(resultText(res), "needs operator") {
		t.Errorf("sandbox_exec with a read token: %+v", res)
	}
}
