// Package pluginstest is an in-memory plugin registry for the tests of the
// adapters (rest, volar): it answers as plugins.Registry does, with the same
// error classes, but checks only what the adapters need from a manifest, so
// tests can install small ones.
package pluginstest

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
)

// InstalledAt is the install and update time of every plugin a Registry
// holds, so answers do not change from run to run.
var InstalledAt = time.Unix(1700000000, 0).UTC()

// Registry is an in-memory plugin registry. Its zero value is not ready;
// make one with New.
type Registry struct {
	// InUse, when set before the Registry is used, says whether sandboxes
	// run the named plugin's runtime: Disable and Remove then refuse the
	// plugin with errdefs.ErrConflict, as plugins.Registry does.
	InUse func(name string) bool

	mu   sync.Mutex
	list map[string]*plugins.Plugin
	raw  map[string][]byte
}

// New returns an empty Registry.
func New() *Registry {
	return &Registry{list: map[string]*plugins.Plugin{}, raw: map[string][]byte{}}
}

// Install decodes a manifest strictly (an unknown field is an error) and
// records the plugin, enabled. It checks only that the manifest is a JSON
// object with a name, not plugins.ParseManifest's rules.
func (r *Registry) Install(_ context.Context, raw []byte) (*plugins.Plugin, error) {
	var m plugins.Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, errdefs.Invalid("the manifest is not valid: %v", err)
	}
	if m.Name == "" {
		return nil, errdefs.Invalid("name is missing: give the plugin a name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.list[m.Name]; ok {
		return nil, errdefs.Conflict("plugin %s is already installed: remove it first", m.Name)
	}
	p := &plugins.Plugin{Name: m.Name, Version: m.Version, Description: m.Description, Enabled: true,
		Manifest: m, Actions: m.Actions, InstalledAt: InstalledAt, UpdatedAt: InstalledAt}
	if p.Actions == nil {
		p.Actions = []plugins.Action{}
	}
	r.list[m.Name] = p
	r.raw[m.Name] = raw
	return p, nil
}

// Raw is the manifest Install got for the named plugin, byte for byte, or
// nil if it has none.
func (r *Registry) Raw(name string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.raw[name]
}

// List returns the plugins sorted by name.
func (r *Registry) List(context.Context) ([]*plugins.Plugin, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*plugins.Plugin
	for _, p := range r.list {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns the named plugin, or errdefs.ErrNotFound.
func (r *Registry) Get(_ context.Context, name string) (*plugins.Plugin, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.getLocked(name)
}

// Enable enables the named plugin.
func (r *Registry) Enable(_ context.Context, name string) (*plugins.Plugin, error) {
	return r.setEnabled(name, true)
}

// Disable disables the named plugin; it refuses while the plugin is in use.
func (r *Registry) Disable(_ context.Context, name string) (*plugins.Plugin, error) {
	return r.setEnabled(name, false)
}

// Remove forgets the named plugin; it refuses while the plugin is in use.
func (r *Registry) Remove(_ context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.getLocked(name); err != nil {
		return err
	}
	if err := r.checkUnused(name, "remove"); err != nil {
		return err
	}
	delete(r.list, name)
	delete(r.raw, name)
	return nil
}

func (r *Registry) setEnabled(name string, on bool) (*plugins.Plugin, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := r.getLocked(name)
	if err != nil {
		return nil, err
	}
	if p.Enabled && !on {
		if err := r.checkUnused(name, "disable"); err != nil {
			return nil, err
		}
	}
	p.Enabled = on
	return p, nil
}

func (r *Registry) getLocked(name string) (*plugins.Plugin, error) {
	p, ok := r.list[name]
	if !ok {
		return nil, errdefs.WithRemedy(errdefs.NotFound("plugin %s is not installed; list the installed plugins", name), errdefs.OpPluginList)
	}
	return p, nil
}

func (r *Registry) checkUnused(name, verb string) error {
	if r.InUse != nil && r.InUse(name) {
		return errdefs.WithRemedy(errdefs.Conflict("plugin %s is the runtime of 1 sandbox; delete it first, then %s the plugin", name, verb), errdefs.OpSandboxList, "runtime", name)
	}
	return nil
}
