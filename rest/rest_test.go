package rest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

func TestAuthRequired(t *testing.T) {
	e := newEnv(t)
	revoked, rec, err := e.auth.Create(context.Background(), "old", auth.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.auth.Revoke(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, token string }{
		{"missing", ""},
		{"wrong", auth.Prefix + strings.Repeat("x", 43)},
		{"revoked", revoked},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/v1/sandboxes", "/v1/system", "/metrics", "/v1/events", "/v1/sandboxes/x/ports/80/"} {
				resp := e.doAs(tt.token, "GET", path, nil)
				wantProblem(t, resp, http.StatusUnauthorized, "STATE_DIR/token", "volar token create")
			}
		})
	}
	t.Run("open routes", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/openapi.json", "/openapi.yaml", "/docs"} {
			want(t, e.doAs("", "GET", path, nil), http.StatusOK, nil)
		}
	})
	t.Run("query token on a plain GET", func(t *testing.T) {
		// ?access_token= is only for WebSocket and EventSource GETs (scopes_test.go).
		wantProblem(t, e.doAs("", "GET", "/v1/system?access_token="+e.token, nil), http.StatusUnauthorized, "access_token")
	})
}

func TestHealthAndSystem(t *testing.T) {
	e := newEnv(t)
	var h struct{ Status, Version string }
	want(t, e.doAs("", "GET", "/healthz", nil), 200, &h)
	if h.Status != "ok" || h.Version != "1.2.3" {
		t.Errorf("healthz = %+v", h)
	}
	var info sandbox.SystemInfo
	want(t, e.do("GET", "/v1/system", nil), 200, &info)
	if info.Driver != "fake" {
		t.Errorf("system = %+v", info)
	}
}

func TestSandboxLifecycle(t *testing.T) {
	e := newEnv(t)
	var sb sandbox.Sandbox
	resp := e.do("POST", "/v1/sandboxes", map[string]any{"name": "web", "network": "none", "labels": map[string]string{"team": "a"}})
	want(t, resp, http.StatusCreated, &sb)
	if sb.ID == "" || sb.Name != "web" || sb.State != sandbox.StateRunning {
		t.Fatalf("created %+v", sb)
	}

	var got sandbox.Sandbox
	want(t, e.do("GET", "/v1/sandboxes/"+sb.ID, nil), 200, &got)
	if got.ID != sb.ID {
		t.Errorf("get = %+v", got)
	}
	want(t, e.do("GET", "/v1/sandboxes/web", nil), 200, &got)

	var page sandbox.ListPage
	want(t, e.do("GET", "/v1/sandboxes?state=running&state=paused&runtime=default&label=team=a&limit=10&cursor=abc", nil), 200, &page)
	if len(page.Items) != 1 {
		t.Errorf("list = %+v", page)
	}
	l := e.eng.lastL
	if fmt.Sprint(l.States) != "[running paused]" || l.Runtime != "default" || l.Labels["team"] != "a" || l.Limit != 10 || l.Cursor != "abc" {
		t.Errorf("list options = %+v", l)
	}

	want(t, e.do("POST", "/v1/sandboxes/"+sb.ID+"/pause", nil), 200, &got)
	if got.State != sandbox.StatePaused {
		t.Errorf("after pause: %s", got.State)
	}
	want(t, e.do("POST", "/v1/sandboxes/"+sb.ID+"/pause", nil), 200, &got) // as the engine: pausing twice is fine
	wantProblem(t, e.do("POST", "/v1/sandboxes/"+sb.ID+"/exec", map[string]any{"cmd": []string{"true"}}), http.StatusConflict, "paused", "resume")
	want(t, e.do("POST", "/v1/sandboxes/"+sb.ID+"/resume", nil), 200, &got)
	want(t, e.do("POST", "/v1/sandboxes/"+sb.ID+"/stop", nil), 200, &got)
	want(t, e.do("POST", "/v1/sandboxes/"+sb.ID+"/start", nil), 200, &got)
	if got.State != sandbox.StateRunning {
		t.Errorf("after start: %s", got.State)
	}

	var snap sandbox.Snapshot
	want(t, e.do("POST", "/v1/sandboxes/"+sb.ID+"/snapshot", nil), http.StatusCreated, &snap)
	var snaps struct{ Items []sandbox.Snapshot }
	want(t, e.do("GET", "/v1/snapshots", nil), 200, &snaps)
	if len(snaps.Items) != 1 || snaps.Items[0].ID != snap.ID {
		t.Errorf("snapshots = %+v", snaps)
	}
	want(t, e.do("GET", "/v1/snapshots/"+snap.ID, nil), 200, &snap)
	want(t, e.do("DELETE", "/v1/snapshots/"+snap.ID, nil), http.StatusNoContent, nil)
	wantProblem(t, e.do("GET", "/v1/snapshots/"+snap.ID, nil), http.StatusNotFound, "not found")

	var clones struct{ Items []sandbox.Sandbox }
	want(t, e.do("POST", "/v1/sandboxes/"+sb.ID+"/fork", map[string]int{"count": 3}), http.StatusCreated, &clones)
	if len(clones.Items) != 3 {
		t.Errorf("fork made %d clones, want 3", len(clones.Items))
	}

	want(t, e.do("DELETE", "/v1/sandboxes/"+sb.ID, nil), http.StatusNoContent, nil)
	wantProblem(t, e.do("GET", "/v1/sandboxes/"+sb.ID, nil), http.StatusNotFound, "not found")
}

func TestSandboxErrors(t *testing.T) {
	e := newEnv(t, func(o *rest.Options) {})
	var sb sandbox.Sandbox
	want(t, e.do("POST", "/v1/sandboxes", map[string]any{"name": "taken"}), http.StatusCreated, &sb)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		mention            []string
	}{
		{"unknown sandbox", "GET", "/v1/sandboxes/nope", nil, 404, []string{"nope"}},
		{"unknown sandbox action", "POST", "/v1/sandboxes/nope/stop", nil, 404, nil},
		{"unknown sandbox delete", "DELETE", "/v1/sandboxes/nope", nil, 404, nil},
		{"bad id", "GET", "/v1/sandboxes/-bad", nil, 422, []string{"path.id"}},
		{"long id", "GET", "/v1/sandboxes/" + strings.Repeat("a", 200), nil, 422, []string{"path.id"}},
		{"bad network enum", "POST", "/v1/sandboxes", map[string]any{"network": "wifi"}, 400, []string{"network", "bridge"}},
		{"bad name", "POST", "/v1/sandboxes", map[string]any{"name": "Not A Label"}, 400, []string{"name", "lowercase"}},
		{"negative vcpus", "POST", "/v1/sandboxes", map[string]any{"vcpus": -1}, 400, []string{"vcpus -1"}},
		{"unknown field", "POST", "/v1/sandboxes", map[string]any{"cpus": 2}, 422, []string{"cpus"}},
		{"wrong type", "POST", "/v1/sandboxes", map[string]any{"vcpus": "two"}, 422, []string{"vcpus"}},
		{"malformed json", "POST", "/v1/sandboxes", rawJSON("{"), 422, nil},
		{"small memory", "POST", "/v1/sandboxes", map[string]any{"memory_mib": 64}, 400, []string{"memory_mib", "128"}},
		{"idle timeout that would overflow", "POST", "/v1/sandboxes", rawJSON(`{"idle_timeout_s": 9223372036854775807}`), 400, []string{"idle_timeout_s 9223372036854775807: must be between 0"}},
		{"bad env name", "POST", "/v1/sandboxes", map[string]any{"env": map[string]string{"1X": "y"}}, 400, []string{"env"}},
		{"snapshot and cold boot", "POST", "/v1/sandboxes", map[string]any{"from_snapshot": "s1", "cold_boot": true}, 400, []string{"cold_boot"}},
		{"name taken", "POST", "/v1/sandboxes", map[string]any{"name": "taken"}, 409, []string{"taken"}},
		{"exhausted", "POST", "/v1/sandboxes", map[string]any{"runtime": "exhausted"}, 429, []string{"memory"}},
		{"internal error is generic", "POST", "/v1/sandboxes", map[string]any{"runtime": "broken"}, 500, []string{"internal error"}},
		{"oversized body", "POST", "/v1/sandboxes", map[string]any{"env": map[string]string{"A": strings.Repeat("x", 300<<10)}}, 413, nil},
		{"bad state filter", "GET", "/v1/sandboxes?state=sleeping", nil, 422, []string{"state"}},
		{"bad label filter", "GET", "/v1/sandboxes?label=novalue", nil, 400, []string{"key=value"}},
		{"limit too big", "GET", "/v1/sandboxes?limit=5000", nil, 422, []string{"limit"}},
		{"limit not a number", "GET", "/v1/sandboxes?limit=ten", nil, 422, []string{"limit"}},
		{"fork count too big", "POST", "/v1/sandboxes/" + sb.ID + "/fork", map[string]int{"count": 1000}, 400, []string{"count 1000", "between 1 and 100"}},
		{"unknown snapshot", "DELETE", "/v1/snapshots/nope", nil, 404, nil},
		{"bad snapshot id", "GET", "/v1/snapshots/a%00b", nil, 422, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wantProblem(t, e.do(tt.method, tt.path, tt.body), tt.status, tt.mention...)
			if tt.status == 500 && strings.Contains(p.Detail, "unexpected EOF") {
				t.Errorf("500 leaks the error: %q", p.Detail)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	var created struct{ ID, Name, Token string }
	want(t, e.do("POST", "/v1/tokens", map[string]string{"name": "ci"}), http.StatusCreated, &created)
	if created.ID == "" || !strings.HasPrefix(created.Token, auth.Prefix) {
		t.Fatalf("created %+v", created)
	}
	want(t, e.doAs(created.Token, "GET", "/v1/system", nil), 200, nil)
	var list struct{ Items []auth.Token }
	want(t, e.do("GET", "/v1/tokens", nil), 200, &list)
	if len(list.Items) != 2 {
		t.Errorf("tokens = %+v", list)
	}
	want(t, e.do("DELETE", "/v1/tokens/"+created.ID, nil), http.StatusNoContent, nil)
	wantProblem(t, e.doAs(created.Token, "GET", "/v1/system", nil), 401, "revoked")
	wantProblem(t, e.do("DELETE", "/v1/tokens/nope", nil), 404)
	wantProblem(t, e.do("POST", "/v1/tokens", map[string]string{"name": "bad name"}), 422, "body.name")
	wantProblem(t, e.do("POST", "/v1/tokens", map[string]string{}), 422, "name")
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	want(t, e.do("POST", "/v1/sandboxes", map[string]any{}), http.StatusCreated, nil)
	want(t, e.do("GET", "/v1/sandboxes/nope", nil), 404, nil)
	resp := e.do("GET", "/metrics", nil)
	body, _ := io.ReadAll(resp.Body)
	for _, s := range []string{
		`volant_http_requests_total{method="POST",route="/v1/sandboxes",status="201"} 1`,
		`volant_http_requests_total{method="GET",route="/v1/sandboxes/{id}",status="404"} 1`,
		`volant_http_request_duration_seconds_bucket{method="POST",route="/v1/sandboxes",status="201",le="+Inf"} 1`,
		`volant_sandboxes{state="running"} 1`,
		"# TYPE volant_http_request_duration_seconds histogram",
		// Templates and warm guests, from the engine's SystemInfo.
		"volant_templates 0",
		"# TYPE volant_warm_guest_vcpus gauge",
		"volant_template_builders 0",
		"# TYPE volant_measured_pss_mib gauge",
		"volant_capacity_vcpus ",
	} {
		if !strings.Contains(string(body), s) {
			t.Errorf("metrics lack %q:\n%s", s, body)
		}
	}
}
