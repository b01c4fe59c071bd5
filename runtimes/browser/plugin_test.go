package browser

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/plugins"
)

var update = flag.Bool("update", false, "rewrite plugin.json's openapi from the actions")

// pluginManifest is the part of plugin.json this package keeps in step
// with its code.
type pluginManifest struct {
	Name     string `json:"name"`
	Workload struct {
		Command []string `json:"command"`
		Port    int      `json:"port"`
		Health  string   `json:"health"`
	} `json:"workload"`
	OpenAPI json.RawMessage `json:"openapi"`
}

// TestPluginManifest checks that plugin.json describes this workload: its
// OpenAPI document is the one the actions make (go test -update rewrites
// it), and its command runs Chromium with DefaultFlags.
func TestPluginManifest(t *testing.T) {
	raw, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		// Replace the last member, openapi, keeping the rest as written.
		i := bytes.Index(raw, []byte("\n  \"openapi\":"))
		if i < 0 {
			t.Fatal(`plugin.json has no top-level "openapi" member (indented by two spaces)`)
		}
		var out bytes.Buffer
		out.Write(raw[:i+3])
		out.WriteString(`"openapi": `)
		_ = json.Indent(&out, doc, "  ", "  ")
		out.WriteString("\n}\n")
		if err := os.WriteFile("plugin.json", out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		raw = out.Bytes()
	}
	var m pluginManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("plugin.json: %v", err)
	}
	var got, want any
	_ = json.Unmarshal(m.OpenAPI, &got)
	_ = json.Unmarshal(doc, &want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plugin.json's openapi is not the actions' document (go test ./runtimes/browser -run TestPluginManifest -update) (-want +got):\n%s", diff)
	}
	if m.Name != "browser" || m.Workload.Port != 8931 || m.Workload.Health != "/healthz" {
		t.Errorf("plugin.json: name %q, port %d, health %q", m.Name, m.Workload.Port, m.Workload.Health)
	}
	i := slices.Index(m.Workload.Command, "--")
	if i < 0 {
		t.Fatalf("the workload command %q passes no Chromium flags after --", m.Workload.Command)
	}
	if diff := cmp.Diff(DefaultFlags, m.Workload.Command[i+1:]); diff != "" {
		t.Errorf("the workload command's Chromium flags are not DefaultFlags (-want +got):\n%s", diff)
	}
}

// TestPluginManifestValid checks plugin.json as the daemon reads it, the
// workload binary sent inline as volar sends it, and that the screenshot
// and pdf actions are binary answers.
func TestPluginManifestValid(t *testing.T) {
	raw, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, a := range m["artifacts"].([]any) {
		a := a.(map[string]any)
		delete(a, "source")
		a["content"] = []byte("a stand-in for bin/volant-browser")
	}
	sent, _ := json.Marshal(m)
	man, err := plugins.ParseManifest(sent)
	if err != nil {
		t.Fatalf("plugin.json is refused: %v", err)
	}
	acts, err := plugins.ActionsFromOpenAPI(man.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string][]string{}
	for _, a := range acts {
		types[a.Name] = a.OutputContentTypes
	}
	for name, want := range map[string]string{"take_screenshot": "image/png", "pdf": "application/pdf"} {
		if !slices.Contains(types[name], want) {
			t.Errorf("action %s answers %v, want %s among them", name, types[name], want)
		}
	}
	if len(acts) != len(actions) {
		t.Errorf("the document has %d actions, the service %d", len(acts), len(actions))
	}
}
