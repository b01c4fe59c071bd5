package sandbox

import (
	"context"
	"fmt"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// Readiness of templates and warm pools: callers that need a create to be
// a restore (tests, benchmarks, a supervisor warming a host) wait on the
// engine's own signal instead of sleeping and polling the snapshot list.

// WaitWarm waits until the template of spec's shape is ready and, with a
// warm pool, until its pool is full, and returns the template's snapshot
// id. It starts the template if none is being made. It fails when
// templates are off or the driver cannot restore, when the template cannot
// be built or does not restore, or when ctx ends first.
func (m *Manager) WaitWarm(ctx context.Context, spec Spec) (string, error) {
	if !m.cfg.Templates {
		return "", errdefs.Invalid("templates are off on this daemon; turn them on to wait for one")
	}
	if err := spec.Validate(m.cfg.Limits); err != nil {
		return "", err
	}
	if _, ok := m.cfg.Driver.(hypervisor.Restorer); !ok {
		return "", errdefs.Unavailable("the %s driver cannot restore snapshots, so there are no templates to wait for", m.cfg.Driver.Name())
	}
	if spec.FromSnapshot != "" || spec.ColdBoot || spec.DiskMiB > 0 {
		return "", errdefs.Invalid("a spec with from_snapshot, cold_boot or a data disk never uses a template; leave them out")
	}
	if spec.Runtime == "" {
		spec.Runtime = DefaultRuntime
	}
	rt, err := m.runtime(ctx, spec.Runtime)
	if err != nil {
		return "", err
	}
	if rt.Plugin != nil && rt.Plugin.Resources != nil {
		applyRuntimeDefaults(&spec, rt)
	}
	spec = spec.withDefaults(m.cfg.Defaults)
	// Templates are keyed by the image (Spec.Image or the plugin's root).
	if err := m.resolveImage(ctx, &spec, rt, nil); err != nil {
		return "", err
	}
	key := m.templateKey(spec, rt)
	m.ensureTemplate(spec, rt)
	for {
		if m.life.Err() != nil {
			return "", errdefs.Unavailable("the engine is closing")
		}
		m.tplMu.Lock()
		ref, wake := m.tpl[key], m.tplWakeLocked()
		warm, filling := len(m.warm[key]), m.warmFilling[key]
		building, broken, buildErr, warmErr := m.tplBuilding[key], m.tplBroken[key], m.tplErr[key], m.warmErr[key]
		m.tplMu.Unlock()
		// background.go: a build or restore refused for lack of room is
		// retried once room is freed.
		var room <-chan struct{}
		if ref == nil && !building && buildErr != nil {
			now, wait := m.retryAfterRoom(buildErr)
			if now {
				m.tplMu.Lock()
				delete(m.tplErr, key)
				m.tplMu.Unlock()
				m.ensureTemplate(spec, rt)
				continue
			}
			if wait != nil {
				room, buildErr, building = wait, nil, true
			}
		}
		if ref != nil && filling == 0 && warmErr != nil && warm < m.cfg.WarmPool {
			now, wait := m.retryAfterRoom(warmErr)
			if now {
				m.fillWarm(key, ref, spec)
				continue
			}
			if wait != nil {
				room, warmErr, filling = wait, nil, -1
			}
		}
		switch {
		case ref != nil && warm >= m.cfg.WarmPool:
			return ref.id, nil
		case broken:
			return "", errdefs.Unavailable("the template of %s does not restore; creates of it cold boot until the daemon restarts", spec)
		case ref == nil && !building && buildErr != nil:
			return "", fmt.Errorf("the template of %s could not be made: %w", spec, buildErr)
		case ref == nil && !building:
			// Not built and not being built (a failed build is retried
			// by the next create): start it again.
			m.ensureTemplate(spec, rt)
			continue
		case ref != nil && filling == 0 && warmErr != nil:
			return "", fmt.Errorf("the warm pool of %s does not fill: %w", spec, warmErr)
		case ref != nil && filling == 0:
			m.fillWarm(key, ref, spec)
			continue
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for the template of %s: %w", spec, ctx.Err())
		case <-m.life.Done():
		case <-wake:
		case <-room:
		}
	}
}

// tplWakeLocked returns a channel closed at the next change of the
// templates or warm pools. tplMu must be held.
func (m *Manager) tplWakeLocked() <-chan struct{} {
	if m.tplWake == nil {
		m.tplWake = make(chan struct{})
	}
	return m.tplWake
}

// tplChangedLocked wakes every WaitWarm. tplMu must be held.
func (m *Manager) tplChangedLocked() {
	if m.tplWake != nil {
		close(m.tplWake)
		m.tplWake = nil
	}
}
