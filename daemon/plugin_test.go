package daemon_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestPluginEndToEnd installs the example runtime plugin with volar,
// runs a sandbox of it, calls its actions through REST (volar action) and
// MCP, and takes it away again.
func TestPluginEndToEnd(t *testing.T) {
	d := newVolantd(t)
	manifest, err := filepath.Abs("../examples/plugins/echo/plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	// volar sends the manifest's relative sources as absolute paths: the
	// daemon reads them only from its plugin_dirs.
	d.env = append(d.env, "VOLANT_PLUGIN_DIRS="+filepath.Dir(manifest))
	d.start()

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
