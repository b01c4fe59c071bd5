package sandbox

import (
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// State is a sandbox's place in its lifecycle.
type State string

// The lifecycle: creating -> running <-> paused; running/paused -> stopped;
// stopped -> running (start); running/paused -> hibernated (saved to disk,
// no VMM) -> running (woken by the next request that needs it) or stopped;
// any -> failed (with a reason); any -> deleting.
const (
	StateCreating State = "creating"
	StateRunning  State = "running"
	StatePaused   State = "paused"
	StateStopped  State = "stopped"
	StateFailed   State = "failed"
	StateDeleting State = "deleting"
	// StateHibernated is a sandbox saved to disk whose VMM has ended: it
	// costs no CPU and no RAM, keeps its lease and identity, and is woken
	// from its snapshot by the next request that needs its guest.
	StateHibernated State = "hibernated"
)

// States lists every state, for validation of filters.
var States = []State{StateCreating, StateRunning, StatePaused, StateStopped, StateFailed, StateDeleting, StateHibernated}

var transitions = map[State][]State{
	StateCreating:   {StateRunning, StateFailed, StateDeleting},
	StateRunning:    {StatePaused, StateStopped, StateFailed, StateDeleting, StateHibernated},
	StatePaused:     {StateRunning, StateStopped, StateFailed, StateDeleting, StateHibernated},
	StateHibernated: {StateRunning, StateStopped, StateFailed, StateDeleting},
	StateStopped:    {StateRunning, StateFailed, StateDeleting, StateCreating},
	StateFailed:     {StateDeleting},
	StateDeleting:   {StateFailed},
}

// canMove reports whether from -> to is a legal transition.
func canMove(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// ValidState reports whether s names a state.
func ValidState(s string) bool {
	for _, st := range States {
		if string(st) == s {
			return true
		}
	}
	return false
}

// Sandbox is the engine's view of one sandbox.
type Sandbox struct {
	ID           string            `json:"id"`
	Name         string            `json:"name,omitempty"`
	Runtime      string            `json:"runtime"`
	State        State             `json:"state"`
	Reason       string            `json:"reason,omitempty"`
	Spec         Spec              `json:"spec"`
	Labels       map[string]string `json:"labels,omitempty"`
	IP           string            `json:"ip,omitempty"`
	Gateway      string            `json:"gateway,omitempty"`
	MAC          string            `json:"mac,omitempty"`
	FromSnapshot string            `json:"from_snapshot,omitempty"`
	// ImageDigest is the digest of the image Spec.Image resolved to.
	ImageDigest string `json:"image_digest,omitempty"`
	// PID is the VMM's process id while the sandbox has a VM.
	PID int `json:"pid,omitempty"`
	// Boot says how the sandbox last started: "cold" or "restore".
	Boot         string     `json:"boot,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	LastActiveAt time.Time  `json:"last_active_at"`
}

// NeedRunning returns nil for a running sandbox, else the error that tells
// the caller what to do (resume it, start it, ...). Fake engines use it to
// answer as the engine does.
func NeedRunning(sb *Sandbox) error { return needRunning(sb) }

func needRunning(sb *Sandbox) error {
	switch sb.State {
	case StateRunning:
		return nil
	case StatePaused:
		return errdefs.WithRemedy(errdefs.Conflict("sandbox %s is paused; resume it first", sb.ID), errdefs.OpSandboxResume, "id", sb.ID)
	case StateStopped:
		return errdefs.WithRemedy(errdefs.Conflict("sandbox %s is stopped; start it first", sb.ID), errdefs.OpSandboxStart, "id", sb.ID)
	case StateHibernated:
		// The engine wakes a hibernated sandbox itself; fakes answer this.
		return errdefs.WithRemedy(errdefs.Conflict("sandbox %s is hibernated; resume it first", sb.ID), errdefs.OpSandboxResume, "id", sb.ID)
	case StateFailed:
		return errdefs.WithRemedy(errdefs.Conflict("sandbox %s failed (%s); delete it and create a new one", sb.ID, sb.Reason), errdefs.OpSandboxDelete, "id", sb.ID)
	default:
		return errdefs.Conflict("sandbox %s is %s; wait until it is running", sb.ID, sb.State)
	}
}
