package rest_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/volant-sh/volant/auth"
)

// TestScopeTableCoversAPI: every operation of the OpenAPI document has an
// entry in auth's scope table, so no route falls back to admin unnoticed
// (and none is left out of the table by a route added later).
func TestScopeTableCoversAPI(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	want(t, e.doAs("", "GET", "/openapi.json", nil), 200, &doc)
	n := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			key := strings.ToUpper(method) + " " + path
			if _, ok := auth.RouteScope(key); !ok {
				t.Errorf("%s (%s) has no entry in auth's scope table (auth/scope.go routeScopes)", key, op.OperationID)
			}
			n++
		}
	}
	if n < 40 {
		t.Errorf("only %d operations in the document", n)
	}
}

// TestScopesEnforced: a read token only reads, an operator token works
// sandboxes but neither manages tokens nor installs plugins, and tokens
// show their scope.
func TestScopesEnforced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	read, _, _ := e.auth.Create(ctx, "reader", auth.CreateOptions{Scope: auth.ScopeRead})
	var created struct{ ID, Token, Scope string }
	want(t, e.doAs(e.token, "POST", "/v1/tokens", map[string]any{"name": "ci"}), http.StatusCreated, &created)
	if created.Scope != "operator" {
		t.Errorf("a token created without a scope has scope %q, want operator", created.Scope)
	}
	op := created.Token

	wantProblem(t, e.doAs(read, "POST", "/v1/sandboxes", map[string]any{}), http.StatusForbidden, "scope read", "needs operator")
	wantProblem(t, e.doAs(read, "POST", "/v1/sandboxes/x/exec", map[string]any{"cmd": []string{"true"}}), http.StatusForbidden, "needs operator")
	want(t, e.doAs(read, "GET", "/v1/sandboxes", nil), http.StatusOK, nil)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/tokens"}, {"POST", "/v1/tokens"}, {"DELETE", "/v1/tokens/tok-1"}, {"POST", "/v1/plugins"},
		{"POST", "/v1/plugins/echo/disable"}, {"DELETE", "/v1/plugins/echo"},
	} {
		wantProblem(t, e.doAs(op, c.method, c.path, map[string]any{"name": "x"}), http.StatusForbidden, "scope operator", "needs admin")
	}
	var list struct {
		Items []struct{ Name, Scope string }
	}
	want(t, e.doAs(e.token, "GET", "/v1/tokens", nil), http.StatusOK, &list)
	scopes := map[string]string{}
	for _, it := range list.Items {
		scopes[it.Name] = it.Scope
	}
	if scopes["reader"] != "read" || scopes["ci"] != "operator" {
		t.Errorf("token scopes listed: %v", scopes)
	}
}

// TestQueryTokenOnlyForStreams: ?access_token= opens an EventSource GET,
// but no plain GET and no mutation.
func TestQueryTokenOnlyForStreams(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.doAs("", "POST", "/v1/sandboxes?access_token="+e.token, map[string]any{}), http.StatusUnauthorized, "access_token")
	wantProblem(t, e.doAs("", "GET", "/v1/sandboxes?access_token="+e.token, nil), http.StatusUnauthorized, "access_token")

	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/events?since=0&access_token="+e.token, nil)
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		t.Errorf("EventSource GET with ?access_token=: %d %s", resp.StatusCode, line)
	}
}

// TestRevokeEndsEventStream: revoking a token through the API ends the
// SSE events stream it opened.
func TestRevokeEndsEventStream(t *testing.T) {
	e := newEnv(t)
	tok, rec, err := e.auth.Create(context.Background(), "watcher", auth.CreateOptions{Scope: auth.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/events?since=0", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		ended <- err
	}()
	want(t, e.doAs(e.token, "DELETE", "/v1/tokens/"+rec.ID, nil), http.StatusNoContent, nil)
	<-ended // the stream ends; no deadline asserted
}
