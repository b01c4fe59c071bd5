package apiclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/volant-sh/volant/plugins"
)

// PluginManifestFile is the manifest's file name in a plugin directory.
const PluginManifestFile = "plugin.json"

// PluginDirManifest reads a plugin directory's manifest (DIR/plugin.json)
// and returns its name and the manifest to send: every artifact whose
// source is a relative path is read here, from that path relative to
// DIR, and sent inline as content, with its sha256 computed when the
// manifest leaves it out (and checked when it gives one). These are the
// caller's own files, uploaded: the daemon still reads no host path
// outside its plugin directories. Absolute sources and URLs are left to
// the daemon. An "openapi" given as a string names the OpenAPI document's
// file in DIR, which is inlined the same way. A missing file is an error
// that names it.
func PluginDirManifest(dir string) (name string, manifest []byte, err error) {
	file := filepath.Join(dir, PluginManifestFile)
	raw, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("%s has no %s: a plugin directory holds its manifest there", dir, PluginManifestFile)
	}
	if err != nil {
		return "", nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", nil, fmt.Errorf("%s is not a JSON manifest: %v", file, err)
	}
	_ = json.Unmarshal(m["name"], &name)
	changed := false
	var doc string
	if json.Unmarshal(m["openapi"], &doc) == nil && doc != "" {
		// "openapi": "openapi.json" names the document's file in DIR.
		path := filepath.Join(dir, doc)
		b, err := os.ReadFile(path)
		if err != nil {
			return "", nil, fmt.Errorf("openapi: %q names a file in %s, but reading it failed: %v", doc, dir, err)
		}
		if !json.Valid(b) {
			return "", nil, fmt.Errorf("openapi: %s is not JSON; give the OpenAPI document as JSON", path)
		}
		m["openapi"], changed = b, true
	}
	var arts []map[string]json.RawMessage
	if err := json.Unmarshal(m["artifacts"], &arts); err != nil || arts == nil {
		// Absent, or malformed: the daemon says what is wrong.
		if !changed {
			return name, raw, nil
		}
		out, err := json.Marshal(m)
		return name, out, err
	}
	for i, a := range arts {
		var src string
		if json.Unmarshal(a["source"], &src) != nil || src == "" || filepath.IsAbs(src) || strings.Contains(src, "://") {
			continue
		}
		path := filepath.Join(dir, src)
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", nil, fmt.Errorf("artifacts[%d].source: %s does not exist; build it first (for the plugins of the Volant repository: make build), or fix the path in %s", i, path, file)
		case err != nil:
			return "", nil, fmt.Errorf("artifacts[%d].source: reading %s: %v", i, path, err)
		}
		sum := sha256.Sum256(b)
		hexSum := hex.EncodeToString(sum[:])
		var want string
		_ = json.Unmarshal(a["sha256"], &want)
		if want != "" && want != hexSum {
			return "", nil, fmt.Errorf("artifacts[%d]: %s has sha256 %s, but %s says %s; fix the digest, or leave it out to have it computed", i, path, hexSum, file, want)
		}
		delete(a, "source")
		a["content"], _ = json.Marshal(b)
		a["sha256"], _ = json.Marshal(hexSum)
	}
	if m["artifacts"], err = json.Marshal(arts); err != nil {
		return "", nil, err
	}
	out, err := json.Marshal(m)
	return name, out, err
}

// InstallPluginDir installs the plugin of a plugin directory: its
// manifest with its relative artifact files sent inline (see
// PluginDirManifest). The install answers when the plugin is ready, its
// image built included (minutes, the first time, for an image with
// packages; progress is published as image.progress events with ref
// "plugin:NAME").
func (c *Client) InstallPluginDir(ctx context.Context, dir string) (*plugins.Plugin, error) {
	_, m, err := PluginDirManifest(dir)
	if err != nil {
		return nil, err
	}
	return c.InstallPlugin(ctx, m)
}
