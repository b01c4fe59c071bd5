package plugins

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// lookup returns the entry of an installed plugin.
func (r *Registry) lookup(name string) (*entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.plugins[name]
	return e, ok
}

// get returns the entry of an installed plugin, or a NotFound error.
func (r *Registry) get(name string) (*entry, error) {
	e, ok := r.lookup(name)
	if !ok {
		return nil, errdefs.WithRemedy(errdefs.NotFound("plugin %q is not installed; list the installed plugins", name), errdefs.OpPluginList)
	}
	return e, nil
}

// List returns the installed plugins ordered by name.
func (r *Registry) List(ctx context.Context) ([]*Plugin, error) {
	r.mu.RLock()
	out := make([]*Plugin, 0, len(r.plugins))
	for _, e := range r.plugins {
		out = append(out, e.view())
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Plugin) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Get returns an installed plugin.
func (r *Registry) Get(ctx context.Context, name string) (*Plugin, error) {
	e, err := r.get(name)
	if err != nil {
		return nil, err
	}
	return e.view(), nil
}

// usable returns the entry of an enabled plugin.
func (r *Registry) usable(name string) (*entry, error) {
	e, err := r.get(name)
	if err != nil {
		return nil, err
	}
	if !e.rec.Enabled {
		return nil, errdefs.WithRemedy(errdefs.Conflict("plugin %s is disabled; enable it first", name), errdefs.OpPluginEnable, "name", name)
	}
	return e, nil
}

// Runtime returns what the engine needs to start a sandbox of an enabled
// plugin. It fails with errdefs.ErrNotFound when the plugin is not
// installed, errdefs.ErrConflict when it is disabled and
// errdefs.ErrUnavailable when it is broken.
func (r *Registry) Runtime(ctx context.Context, name string) (*Runtime, error) {
	e, err := r.usable(name)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	closing := r.closing[name]
	r.mu.RUnlock()
	if closing {
		return nil, errdefs.WithRemedy(errdefs.Conflict("plugin %s is being disabled or removed; try again, or enable it", name), errdefs.OpPluginEnable, "name", name)
	}
	if e.problem != "" {
		return nil, reinstall(errdefs.Unavailable("plugin %s is broken: %s", name, e.problem), name)
	}
	for _, f := range e.files {
		st, err := os.Stat(f.HostPath)
		if err != nil || st.Size() != f.Size {
			return nil, reinstall(errdefs.Unavailable("plugin %s is broken: the file of artifact %s (%s) is missing or changed; reinstall the plugin with its manifest",
				name, f.GuestPath, f.HostPath), name)
		}
	}
	root := e.rootRuntime(r.blobs)
	if root != nil && root.Path != "" {
		if st, err := os.Stat(root.Path); err != nil || st.Size() != e.rootSize {
			return nil, reinstall(errdefs.Unavailable("plugin %s is broken: its rootfs file %s is missing or changed; reinstall the plugin with its manifest", name, root.Path), name)
		}
	}
	rt := &Runtime{
		Root:    root,
		Plugin:  name,
		Version: e.rec.Version,
		Digest:  e.digest,
		Files:   slices.Clone(e.files),
		Actions: slices.Clone(e.actions),
	}
	if w := e.manifest.Workload; w != nil {
		c := *w
		c.Command = slices.Clone(w.Command)
		c.Env = maps.Clone(w.Env)
		if c.Restart == "" {
			c.Restart = "always"
		}
		if c.ReadyTimeoutS == 0 {
			c.ReadyTimeoutS = 30
		}
		rt.Workload = &c
	}
	if res := e.manifest.Resources; res != nil {
		c := *res
		rt.Resources = &c
	}
	return rt, nil
}

// Action returns an action of an enabled plugin.
func (r *Registry) Action(ctx context.Context, plugin, action string) (*Action, error) {
	e, err := r.usable(plugin)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(e.actions))
	for _, a := range e.actions {
		if a.Name == action {
			c := a
			c.Query = slices.Clone(a.Query)
			return &c, nil
		}
		names = append(names, a.Name)
	}
	if len(names) == 0 {
		return nil, errdefs.NotFound("plugin %s has no actions; its manifest lists none", plugin)
	}
	return nil, errdefs.NotFound("plugin %s has no action %q; its actions are: %s", plugin, action, strings.Join(names, ", "))
}

// reinstall adds the remedy of a broken plugin to err: remove the plugin,
// then install it again.
func reinstall(err error, name string) error {
	return errdefs.WithRemedy(errdefs.WithRemedy(err, errdefs.OpPluginRemove, "name", name), errdefs.OpPluginInstall)
}
