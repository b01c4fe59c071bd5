package python

import (
	"testing"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/plugins"
)

// TestPluginManifest: the directory installs as volar plugin install
// runtimes/python sends it: a valid manifest whose actions are the
// kernel's, whose run_code can stream and carries figures as images.
func TestPluginManifest(t *testing.T) {
	name, raw, err := apiclient.PluginDirManifest(".")
	if err != nil {
		t.Fatal(err)
	}
	m, err := plugins.ParseManifest(raw)
	if err != nil {
		t.Fatalf("plugin.json: %v", err)
	}
	if name != "python" || m.RootFS == nil || len(m.RootFS.Packages) != 3 {
		t.Errorf("manifest %s: rootfs %+v", name, m.RootFS)
	}
	for _, a := range m.Artifacts {
		if a.Path == "/opt/volant/python/kernel.py" && string(a.Content) != string(Kernel) {
			t.Errorf("kernel.py sent is not the embedded one")
		}
	}
	acts, err := plugins.ActionsFromOpenAPI(m.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]plugins.Action{}
	for _, a := range acts {
		got[a.Name] = a
	}
	for _, n := range []string{"run_code", "interrupt", "restart", "install"} {
		if _, ok := got[n]; !ok {
			t.Errorf("no action %s", n)
		}
	}
	rc := got["run_code"]
	if len(rc.OutputContentTypes) != 2 || rc.OutputContentTypes[1] != "application/x-ndjson" {
		t.Errorf("run_code output types = %v, want JSON and NDJSON", rc.OutputContentTypes)
	}
	out, media := plugins.SplitMedia(rc.Output, []byte(`{"stdout":"","images":[{"mime_type":"image/png","data":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="}]}`))
	if len(media) != 1 || media[0].MediaType != "image/png" {
		t.Errorf("a figure in run_code's answer is not found as image/png media: %s %v", out, media)
	}
}
