package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// echoCGI answers with what it was asked: method, query and JSON body.
const echoCGI = `#!/bin/sh
body=$(head -c "${CONTENT_LENGTH:-0}")
echo "Content-Type: application/json"
echo
printf '{"method":"%s","query":"%s","body":%s}\n' "$REQUEST_METHOD" "$QUERY_STRING" "${body:-null}"
`

// writePlugin writes a runtime plugin to dir as an operator would: a
// manifest next to the files it names. Its workload is busybox's httpd
// running a CGI script; one action is declared, one comes from OpenAPI.
func writePlugin(t *testing.T, dir string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "echo.cgi"), []byte(echoCGI), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(echoCGI))
	manifest := map[string]any{
		"schema_version": 1,
		"name":           "echo",
		"version":        "1.0.0",
		"description":    "answers with what it was asked",
		"artifacts": []map[string]any{
			{"path": "/www/cgi-bin/echo", "source": "echo.cgi", "sha256": hex.EncodeToString(sum[:]), "mode": "0755"},
			{"path": "/www/healthz", "content": []byte("ok\n")},
		},
		"workload": map[string]any{
			"command": []string{"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"},
			"port":    8080, "health": "/healthz",
		},
		"actions": []map[string]any{{
			"name": "say", "description": "Say something", "path": "/cgi-bin/echo",
			"input_schema": map[string]any{"type": "object", "properties": map[string]any{"msg": map[string]any{"type": "string"}}, "required": []string{"msg"}},
		}},
		"openapi": map[string]any{
			"openapi": "3.1.0", "info": map[string]any{"title": "echo", "version": "1"},
			"paths": map[string]any{"/cgi-bin/echo": map[string]any{"get": map[string]any{
				"operationId": "getStatus", "summary": "Ask how it is",
				"parameters": []map[string]any{{"name": "verbose", "in": "query", "schema": map[string]any{"type": "string"}}},
				"responses":  map[string]any{"200": map[string]any{"description": "ok"}},
			}}},
		},
	}
	raw, _ := json.MarshalIndent(manifest, "", "  ")
	path := filepath.Join(dir, "plugin.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPluginEndToEnd installs a runtime plugin with volar, runs a sandbox
// of it, calls its actions through REST (volar action) and MCP, and takes
// it away again.
func TestPluginEndToEnd(t *testing.T) {
	d := newVolantd(t)
	d.start()
	manifest := writePlugin(t, t.TempDir())

	volar(t, d, 0, "", "plugin", "install", manifest)
	if out := volar(t, d, 0, "", "plugin", "ls", "-q"); strings.TrimSpace(out) != "echo" {
		t.Fatalf("plugin ls -q: %q", out)
	}
	volar(t, d, 1, "", "plugin", "install", manifest) // installed already

	id := strings.TrimSpace(volar(t, d, 0, "", "sandbox", "create", "-q", "--runtime", "echo"))
	out := volar(t, d, 0, "", "action", id, "echo", "say", "--arg", "msg=hi")
	var said struct {
		Method string
		Body   map[string]any
	}
	if err := json.Unmarshal([]byte(out), &said); err != nil || said.Method != "POST" || said.Body["msg"] != "hi" {
		t.Fatalf("volar action printed %q (%v)", out, err)
	}
	volar(t, d, 1, "", "action", id, "echo", "say", `{"nope":1}`) // against the schema

	// MCP: the plugin's actions are tools.
	ctx := context.Background()
	hc := &http.Client{Transport: bearer{token: d.token}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "e2e"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: "http://" + d.addr + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if names := toolNames(t, cs); !slices.Contains(names, "echo_say") || !slices.Contains(names, "echo_get_status") {
		t.Fatalf("MCP tools %v lack the plugin's", names)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo_get_status", Arguments: map[string]any{"sandbox_id": id, "verbose": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	if text := res.Content[0].(*sdk.TextContent).Text; res.IsError || !strings.Contains(text, `"query":"verbose=yes"`) {
		t.Fatalf("echo_get_status answered %q (error %v)", text, res.IsError)
	}

	// A plugin in use stays; once its sandbox is gone it can go.
	volar(t, d, 1, "", "plugin", "disable", "echo")
	volar(t, d, 0, "", "sandbox", "rm", id)
	volar(t, d, 0, "", "plugin", "disable", "echo")
	if names := toolNames(t, cs); slices.Contains(names, "echo_say") {
		t.Fatalf("MCP tools %v still hold a disabled plugin's", names)
	}
	volar(t, d, 1, "", "sandbox", "create", "-q", "--runtime", "echo") // disabled
	volar(t, d, 0, "", "plugin", "rm", "echo")
	if out := volar(t, d, 0, "", "plugin", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("plugin ls after rm: %q", out)
	}
	if blobs, _ := os.ReadDir(filepath.Join(d.stateDir, "plugins", "blobs")); len(blobs) != 0 {
		t.Fatalf("plugin files left after rm: %d", len(blobs))
	}
}

func toolNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
