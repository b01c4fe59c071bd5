package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The manifests the project shows its users are valid.
func TestExampleManifests(t *testing.T) {
	for _, name := range []string{"echo", "pyinfo"} {
		raw, err := os.ReadFile("../examples/plugins/" + name + "/plugin.json")
		if err != nil {
			t.Fatal(err)
		}
		// volar sends relative sources resolved against the manifest's dir.
		dir, _ := filepath.Abs("../examples/plugins/" + name)
		raw = regexp.MustCompile(`"source": "([^"/][^"]*)"`).ReplaceAll(raw, []byte(`"source": "`+dir+`/$1"`))
		m, err := ParseManifest(raw)
		if err != nil {
			t.Fatalf("examples/plugins/%s/plugin.json: %v", name, err)
		}
		for _, a := range m.Artifacts {
			if a.Source == "" {
				continue
			}
			data, err := os.ReadFile(a.Source)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != a.SHA256 {
				t.Errorf("artifact %s: sha256 in the manifest is not the file's", a.Source)
			}
		}
	}

	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(\\{\n  \"schema_version\".*?)\n```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/api.md shows no plugin manifest")
	}
	for _, b := range blocks {
		if _, err := ParseManifest(b[1]); err != nil {
			t.Errorf("the manifest in docs/api.md: %v", err)
		}
	}
}
