package apiclient_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/plugins"
)

func TestPluginDirManifest(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin", "app"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	manifest := `{"schema_version":1,"name":"app","version":"1","description":"kept",
		"workload":{"command":["/usr/local/bin/app"],"port":8080},
		"artifacts":[{"path":"/usr/local/bin/app","source":"bin/app","mode":"0755"},
		             {"path":"/etc/url","source":"https://example.com/f","sha256":"` + strings.Repeat("ab", 32) + `"}]}`
	os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(manifest), 0o644)

	name, raw, err := apiclient.PluginDirManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if name != "app" {
		t.Errorf("name = %q", name)
	}
	m, err := plugins.ParseManifest(raw)
	if err != nil {
		t.Fatalf("the manifest sent does not parse: %v", err)
	}
	sum := sha256.Sum256([]byte("#!/bin/sh\necho hi\n"))
	want := []plugins.Artifact{
		{Path: "/usr/local/bin/app", Content: []byte("#!/bin/sh\necho hi\n"), SHA256: hex.EncodeToString(sum[:]), Mode: "0755"},
		{Path: "/etc/url", Source: "https://example.com/f", SHA256: strings.Repeat("ab", 32)},
	}
	if diff := cmp.Diff(want, m.Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	if m.Description != "kept" || m.Workload == nil || m.Workload.Port != 8080 {
		t.Errorf("other fields are not kept: %+v", m)
	}

	// A missing file names itself and how to make it.
	os.Remove(filepath.Join(dir, "bin", "app"))
	if _, _, err := apiclient.PluginDirManifest(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "bin", "app")) || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing file: %v", err)
	}
	// A directory without a manifest says so.
	if _, _, err := apiclient.PluginDirManifest(t.TempDir()); err == nil || !strings.Contains(err.Error(), "plugin.json") {
		t.Errorf("no manifest: %v", err)
	}
}
