// Package sandbox is Volant's engine: sandboxes with a persisted lifecycle
// on top of a hypervisor driver, address leases, networking, the event log
// and the guest agent. The REST and MCP adapters are thin layers over it.
package sandbox

import (
	"context"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// Manager owns every sandbox of one state directory.
type Manager struct{}

var errTODO = errdefs.Unavailable("not implemented yet")

// Create validates spec, admits it against the host budget, and starts a
// sandbox (restoring the runtime's template snapshot unless spec says
// cold_boot). It returns once the guest agent answers. On error nothing is
// left behind.
func (m *Manager) Create(ctx context.Context, spec Spec) (*Sandbox, error) { return nil, errTODO }

// Get returns a sandbox by id or name.
func (m *Manager) Get(ctx context.Context, idOrName string) (*Sandbox, error) { return nil, errTODO }

// List returns one page of sandboxes, oldest first.
func (m *Manager) List(ctx context.Context, opts ListOptions) (*ListPage, error) { return nil, errTODO }

// Start boots a stopped sandbox again.
func (m *Manager) Start(ctx context.Context, id string) (*Sandbox, error) { return nil, errTODO }

// Stop powers a sandbox off, keeping its record and address.
func (m *Manager) Stop(ctx context.Context, id string) (*Sandbox, error) { return nil, errTODO }

// Pause freezes a running sandbox's vCPUs.
func (m *Manager) Pause(ctx context.Context, id string) (*Sandbox, error) { return nil, errTODO }

// Resume continues a paused sandbox.
func (m *Manager) Resume(ctx context.Context, id string) (*Sandbox, error) { return nil, errTODO }

// Delete stops a sandbox if needed and removes it with everything it held.
func (m *Manager) Delete(ctx context.Context, id string) error { return errTODO }

// Exec runs a command in a running sandbox and waits for it. When out is
// not nil, output is passed to it as produced. Cancelling ctx kills the
// command's process group in the guest.
func (m *Manager) Exec(ctx context.Context, id string, req ExecRequest, out OutputFunc) (*ExecResult, error) {
	return nil, errTODO
}

// Agent returns the agent client of a running sandbox, for file,
// process, PTY and port calls, and marks the sandbox active.
func (m *Manager) Agent(ctx context.Context, id string) (*client.Client, error) { return nil, errTODO }

// ConsoleLog returns the last tail bytes of a sandbox's serial console
// (all of the bounded log when tail <= 0) and the log file's path, for
// followers.
func (m *Manager) ConsoleLog(ctx context.Context, id string, tail int) ([]byte, string, error) {
	return nil, "", errTODO
}

// System describes the engine, its accelerator and its capacity.
func (m *Manager) System(ctx context.Context) (*SystemInfo, error) { return nil, errTODO }

// Snapshot saves a running or paused sandbox; it keeps running.
func (m *Manager) Snapshot(ctx context.Context, id string) (*Snapshot, error) { return nil, errTODO }

// Fork snapshots a sandbox and restores n clones of it, each with its own
// identity.
func (m *Manager) Fork(ctx context.Context, id string, n int) ([]*Sandbox, error) { return nil, errTODO }

// ListSnapshots returns every snapshot, oldest first.
func (m *Manager) ListSnapshots(ctx context.Context) ([]*Snapshot, error) { return nil, errTODO }

// GetSnapshot returns one snapshot.
func (m *Manager) GetSnapshot(ctx context.Context, id string) (*Snapshot, error) { return nil, errTODO }

// DeleteSnapshot removes a snapshot nothing depends on.
func (m *Manager) DeleteSnapshot(ctx context.Context, id string) error { return errTODO }
