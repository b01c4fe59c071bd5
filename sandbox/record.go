package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/store"
)

// fromRecord turns a stored record into the API's Sandbox.
func fromRecord(r store.Sandbox) *Sandbox {
	sb := &Sandbox{
		ID:           r.ID,
		Name:         r.Name,
		Runtime:      r.Runtime,
		State:        State(r.State),
		Reason:       r.Reason,
		Labels:       r.Labels,
		IP:           r.IP,
		MAC:          r.MAC,
		FromSnapshot: r.FromSnapshot,
		ImageDigest:  r.ImageDigest,
		CreatedAt:    r.CreatedAt,
		UpdatedAt:    r.UpdatedAt,
		LastActiveAt: r.LastActiveAt,
	}
	var meta recordSpec
	if len(r.Spec) > 0 && json.Unmarshal(r.Spec, &meta) == nil {
		sb.Spec = meta.Spec
		sb.Gateway = meta.Gateway
		sb.Boot = meta.Boot
	}
	if !r.ExpiresAt.IsZero() {
		t := r.ExpiresAt
		sb.ExpiresAt = &t
	}
	return sb
}

// recordSpec is what the engine keeps in the record's spec blob.
type recordSpec struct {
	Spec    Spec   `json:"spec"`
	Gateway string `json:"gateway,omitempty"`
	Boot    string `json:"boot,omitempty"`
	// Restored is the snapshot (or template) the VM was restored from.
	Restored string `json:"restored,omitempty"`
	// Image is the image the sandbox runs in (images.go), if any.
	Image *imageRecord `json:"image,omitempty"`
}

func specOf(r store.Sandbox) recordSpec {
	var meta recordSpec
	_ = json.Unmarshal(r.Spec, &meta)
	return meta
}

func setSpec(r *store.Sandbox, meta recordSpec) {
	r.Spec, _ = json.Marshal(meta)
}

// update applies fn to the stored record and writes it back, retrying when
// someone else wrote in between.
func (m *Manager) update(ctx context.Context, id string, fn func(r *store.Sandbox) error) (store.Sandbox, error) {
	for range 8 {
		r, err := m.cfg.Store.GetSandbox(ctx, id)
		if err != nil {
			return store.Sandbox{}, err
		}
		if err := fn(&r); err != nil {
			return store.Sandbox{}, err
		}
		r, err = m.cfg.Store.UpdateSandbox(ctx, r)
		if errors.Is(err, errdefs.ErrConflict) {
			continue
		}
		return r, err
	}
	return store.Sandbox{}, errdefs.Conflict("sandbox %s is being changed by others; try again", id)
}

// setState moves a sandbox to state to (with a reason) if the lifecycle
// allows it, persists it and publishes the matching event.
func (m *Manager) setState(ctx context.Context, id string, to State, reason string) (store.Sandbox, error) {
	r, err := m.update(ctx, id, func(r *store.Sandbox) error {
		from := State(r.State)
		if from != to && !canMove(from, to) {
			return errdefs.Conflict("sandbox %s is %s; it cannot become %s", id, from, to)
		}
		r.State = string(to)
		r.Reason = reason
		return nil
	})
	if err != nil {
		return r, err
	}
	if typ := eventOf(to); typ != "" {
		var data any
		if reason != "" {
			data = map[string]string{"reason": reason}
		}
		m.publish(ctx, typ, id, data)
	}
	return r, nil
}

// touch records API activity on a sandbox, at most every few seconds.
// touchEvery is how stale a sandbox's last activity may be before an
// operation records it again.
const touchEvery = 5 * time.Second

func (m *Manager) touch(ctx context.Context, r store.Sandbox) {
	if time.Since(r.LastActiveAt) < touchEvery {
		return
	}
	_, _ = m.update(context.WithoutCancel(ctx), r.ID, func(r *store.Sandbox) error {
		r.LastActiveAt = time.Now().UTC()
		return nil
	})
}
