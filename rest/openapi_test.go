package rest_test

import (
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
)

// routes lists every route the API serves, as "METHOD path" in OpenAPI form.
var routes = []string{
	"GET /healthz", "GET /v1/system", "GET /metrics", "GET /docs",
	"GET /v1/sandboxes", "POST /v1/sandboxes",
	"GET /v1/sandboxes/{id}", "DELETE /v1/sandboxes/{id}",
	"POST /v1/sandboxes/{id}/start", "POST /v1/sandboxes/{id}/stop", "POST /v1/sandboxes/{id}/pause", "POST /v1/sandboxes/{id}/hibernate",
	"POST /v1/sandboxes/{id}/resume", "POST /v1/sandboxes/{id}/snapshot", "POST /v1/sandboxes/{id}/fork",
	"POST /v1/sandboxes/{id}/exec", "GET /v1/sandboxes/{id}/exec/stream",
	"GET /v1/sandboxes/{id}/files", "PUT /v1/sandboxes/{id}/files", "DELETE /v1/sandboxes/{id}/files",
	"GET /v1/sandboxes/{id}/files/list", "GET /v1/sandboxes/{id}/files/stat", "POST /v1/sandboxes/{id}/files/mkdir",
	"GET /v1/sandboxes/{id}/files/tar", "PUT /v1/sandboxes/{id}/files/tar",
	"GET /v1/sandboxes/{id}/console", "GET /v1/sandboxes/{id}/logs",
	"GET /v1/sandboxes/{id}/ports/{port}/{path}", "POST /v1/sandboxes/{id}/ports/{port}/{path}",
	"PUT /v1/sandboxes/{id}/ports/{port}/{path}", "PATCH /v1/sandboxes/{id}/ports/{port}/{path}",
	"DELETE /v1/sandboxes/{id}/ports/{port}/{path}", "POST /v1/sandboxes/{id}/port-urls",
	"GET /v1/snapshots", "GET /v1/snapshots/{id}", "DELETE /v1/snapshots/{id}",
	"GET /v1/sandboxes/{id}/egress", "PUT /v1/sandboxes/{id}/egress", "DELETE /v1/sandboxes/{id}/egress",
	"POST /v1/secrets", "GET /v1/secrets", "DELETE /v1/secrets/{name}",
	"GET /v1/tokens", "POST /v1/tokens", "DELETE /v1/tokens/{id}",
	"GET /v1/events",
	"GET /v1/plugins", "POST /v1/plugins", "GET /v1/plugins/{name}", "DELETE /v1/plugins/{name}",
	"POST /v1/images", "GET /v1/images", "GET /v1/images/{ref}", "DELETE /v1/images/{ref}",
	"POST /v1/plugins/{name}/enable", "POST /v1/plugins/{name}/disable",
	"POST /v1/sandboxes/{id}/actions/{plugin}/{action}",
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Summary     string                `json:"summary"`
			Security    []map[string][]string `json:"security"`
			Responses   map[string]any        `json:"responses"`
		} `json:"paths"`
	}
	want(t, e.doAs("", "GET", "/openapi.json", nil), 200, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	var got []string
	for path, item := range doc.Paths {
		for method, op := range item {
			got = append(got, strings.ToUpper(method)+" "+path)
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s lacks an operationId or summary", method, path)
			}
			if _, ok := op.Responses["401"]; !ok && len(op.Security) > 0 && len(op.Security[0]) > 0 {
				t.Errorf("%s %s needs a token but does not document 401", method, path)
			}
			ok2xx := false
			for code := range op.Responses {
				ok2xx = ok2xx || strings.HasPrefix(code, "2") || code == "101"
			}
			if !ok2xx {
				t.Errorf("%s %s documents no 2xx or 101 answer", method, path)
			}
			needsToken := len(op.Security) > 0 && len(op.Security[0]) > 0
			open := path == "/healthz" || path == "/docs"
			if open == needsToken {
				t.Errorf("%s %s: security %v; only /healthz and /docs are open", method, path, op.Security)
			}
		}
	}
	sort.Strings(got)
	wantRoutes := append([]string(nil), routes...)
	sort.Strings(wantRoutes)
	if strings.Join(got, "\n") != strings.Join(wantRoutes, "\n") {
		t.Errorf("documented routes:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantRoutes, "\n"))
	}

	resp := e.doAs("", "GET", "/openapi.yaml", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/v1/sandboxes/{id}/exec/stream:") {
		t.Errorf("openapi.yaml: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp = e.doAs("", "GET", "/docs", nil)
	body, _ = io.ReadAll(resp.Body)
	if strings.Contains(string(body), "https://") {
		t.Error("the docs page loads something from the internet")
	}
}

// TestDumpOpenAPI writes the served /openapi.yaml to $VOLANT_OPENAPI_OUT,
// for scripts/lint-openapi.sh.
func TestDumpOpenAPI(t *testing.T) {
	out := os.Getenv("VOLANT_OPENAPI_OUT")
	if out == "" {
		t.Skip("set VOLANT_OPENAPI_OUT to dump the OpenAPI document (scripts/lint-openapi.sh does)")
	}
	e := newEnv(t)
	resp := e.doAs("", "GET", "/openapi.yaml", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.yaml: %d %s", resp.StatusCode, body)
	}
	if err := os.WriteFile(out, body, 0o644); err != nil {
		t.Fatal(err)
	}
}
