// Package events is Volant's event log: an append-only, persisted sequence of
// things that happened (a sandbox started, a plugin was enabled), fanned out
// to live subscribers who can resume from the last sequence number they saw.
package events

import (
	"context"
	"encoding/json"
	"time"
)

// Event types.
const (
	SandboxCreated  = "sandbox.created"
	SandboxRunning  = "sandbox.running"
	SandboxPaused   = "sandbox.paused"
	SandboxStopped  = "sandbox.stopped"
	SandboxFailed   = "sandbox.failed"
	SandboxDeleted  = "sandbox.deleted"
	ExecStarted     = "exec.started"
	ExecFinished    = "exec.finished"
	SnapshotCreated = "snapshot.created"
	SnapshotDeleted = "snapshot.deleted"
	PluginInstalled = "plugin.installed"
	PluginEnabled   = "plugin.enabled"
	PluginDisabled  = "plugin.disabled"
	PluginRemoved   = "plugin.removed"
)

// SandboxHibernated: a sandbox was saved to disk and its VMM ended; the
// next request to its guest wakes it (sandbox.running).
const SandboxHibernated = "sandbox.hibernated"

// Event is one entry of the log.
type Event struct {
	// Seq is the event's position in the log, assigned on publish; it
	// only grows and is never reused.
	Seq int64 `json:"seq"`
	// Time is when the event was published, in UTC.
	Time time.Time `json:"time"`
	// Type is one of the constants of this package.
	Type string `json:"type"`
	// SandboxID is the sandbox the event is about, if any.
	SandboxID string `json:"sandbox_id,omitempty"`
	// Data is the event's details as JSON, if any.
	Data json.RawMessage `json:"data,omitempty"`
}

// Log is the persistence a Bus needs. store.Store implements it.
type Log interface {
	// AppendEvent stores e (whose Seq is ignored) and returns its new
	// sequence number, greater than every earlier one.
	AppendEvent(ctx context.Context, e Event) (int64, error)
	// EventsSince returns up to limit events with Seq > after, in order.
	EventsSince(ctx context.Context, after int64, limit int) ([]Event, error)
	// LastEventSeq returns the greatest sequence number ever assigned
	// (0 for an empty log).
	LastEventSeq(ctx context.Context) (int64, error)
	// TrimEvents deletes all but the newest keepLast events and returns
	// how many it deleted.
	TrimEvents(ctx context.Context, keepLast int) (int64, error)
}
