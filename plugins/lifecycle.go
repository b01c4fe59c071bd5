package plugins

import (
	"context"
	"errors"
	"fmt"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
)

// Enable makes a plugin's runtime and actions available. Enabling an
// enabled plugin changes nothing.
func (r *Registry) Enable(ctx context.Context, name string) (*Plugin, error) {
	return r.setEnabled(ctx, name, true)
}

// Disable makes a plugin's runtime and actions unavailable, keeping it
// installed. It refuses while sandboxes run the plugin's runtime.
// Disabling a disabled plugin changes nothing.
func (r *Registry) Disable(ctx context.Context, name string) (*Plugin, error) {
	return r.setEnabled(ctx, name, false)
}

func (r *Registry) setEnabled(ctx context.Context, name string, on bool) (*Plugin, error) {
	e, changed, err := r.setEnabledOp(ctx, name, on)
	if err != nil {
		return nil, err
	}
	if changed {
		r.notify()
	}
	return e.view(), nil
}

func (r *Registry) setEnabledOp(ctx context.Context, name string, on bool) (*entry, bool, error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	e, err := r.get(name)
	if err != nil {
		return nil, false, err
	}
	if e.rec.Enabled == on {
		return e, false, nil
	}
	verb := "disable"
	if on {
		verb = "enable"
	} else {
		defer r.guardRuntime(name)()
		if err := r.checkUnused(ctx, name, verb); err != nil {
			return nil, false, err
		}
	}
	rec := e.rec
	rec.Enabled = on
	rec, err = r.cfg.Store.UpdatePlugin(ctx, rec)
	if err != nil {
		return nil, false, fmt.Errorf("%sing plugin %s: %w", verb[:len(verb)-1], name, err)
	}
	e = e.withRecord(rec)
	r.mu.Lock()
	r.plugins[name] = e
	r.mu.Unlock()
	typ := events.PluginDisabled
	if on {
		typ = events.PluginEnabled
	}
	r.log.Info("plugin "+verb+"d", "plugin", name)
	r.publish(ctx, typ, e)
	return e, true, nil
}

// Remove uninstalls a plugin: its record and every artifact file no
// other plugin uses. It refuses while sandboxes run the plugin's runtime.
func (r *Registry) Remove(ctx context.Context, name string) error {
	if err := r.remove(ctx, name); err != nil {
		return err
	}
	r.notify()
	return nil
}

func (r *Registry) remove(ctx context.Context, name string) error {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	e, err := r.get(name)
	if err != nil {
		return err
	}
	defer r.guardRuntime(name)()
	if err := r.checkUnused(ctx, name, "remove"); err != nil {
		return err
	}
	if err := r.cfg.Store.DeletePlugin(ctx, name); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("removing plugin %s: %w", name, err)
	}
	r.mu.Lock()
	delete(r.plugins, name)
	used := r.usedBlobsLocked("")
	r.mu.Unlock()
	for _, s := range e.blobSums() {
		if used[s] {
			continue
		}
		if err := r.blobs.remove(s); err != nil {
			r.log.Warn("removing a plugin file", "plugin", name, "sha256", s, "err", err)
		}
	}
	r.log.Info("plugin removed", "plugin", name)
	r.publish(ctx, events.PluginRemoved, e)
	return nil
}

// guardRuntime keeps Runtime from answering for name until the returned
// function is called. Disable and Remove hold it from before they ask
// InUse until their change is made, so that a sandbox cannot start with
// a plugin after InUse said none did: the engine counts a create as a
// use from before it asks for the runtime.
func (r *Registry) guardRuntime(name string) (release func()) {
	r.mu.Lock()
	if r.closing == nil {
		r.closing = map[string]bool{}
	}
	r.closing[name] = true
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.closing, name)
		r.mu.Unlock()
	}
}

// checkUnused refuses verb while sandboxes run the plugin's runtime.
func (r *Registry) checkUnused(ctx context.Context, name, verb string) error {
	if r.cfg.InUse == nil {
		return nil
	}
	n, err := r.cfg.InUse(ctx, name)
	if err != nil {
		return fmt.Errorf("counting the sandboxes of runtime %s: %w", name, err)
	}
	switch {
	case n == 1:
		return errdefs.WithRemedy(errdefs.Conflict("plugin %s is the runtime of 1 sandbox; delete it first, then %s the plugin", name, verb), errdefs.OpSandboxList, "runtime", name)
	case n > 1:
		return errdefs.WithRemedy(errdefs.Conflict("plugin %s is the runtime of %d sandboxes; delete them first, then %s the plugin", name, n, verb), errdefs.OpSandboxList, "runtime", name)
	}
	return nil
}
