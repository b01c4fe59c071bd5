package sandbox

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// Workloads are long-running processes kestrel supervises in a running
// sandbox (restart policy, readiness, a log ring), started by a caller
// rather than by a plugin manifest. The Kubernetes provider runs a Pod's
// container as one.

// WorkloadSpec is what a caller asks kestrel to supervise: the agent's
// own type, so its rules (absolute cwd, restart policies, health needing a
// port) are checked where they are enforced.
type WorkloadSpec = client.WorkloadSpec

// WorkloadStatus is the agent's view of a supervised workload.
type WorkloadStatus = client.WorkloadStatus

// workloadNameRE is the shape of a workload name: the agent's, kept here
// so a bad name is refused before the guest is asked.
var workloadNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validWorkloadName checks a caller's workload name. The plugin's own
// workload may be read but not replaced or stopped: the engine set it up
// and the plugin's actions depend on it.
// ValidateWorkloadRef checks a sandbox id and a workload name as every
// workload operation does, for callers that must refuse bad input before
// they reach an engine.
func ValidateWorkloadRef(id, name string) error {
	if err := ValidateID("sandbox id", id); err != nil {
		return err
	}
	return validWorkloadName(name, false)
}

func validWorkloadName(name string, write bool) error {
	if !workloadNameRE.MatchString(name) {
		return errdefs.Invalid("workload name %q: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit", clip(name))
	}
	if write && name == workloadName {
		return errdefs.Invalid("workload %q is the plugin runtime's own and is managed by the engine; pick another name", name)
	}
	return nil
}

// StartWorkload starts the workload name in a running sandbox. Starting it
// again with the same spec leaves the running one alone and answers its
// status; another spec replaces it.
func (m *Manager) StartWorkload(ctx context.Context, idOrName, name string, spec WorkloadSpec) (*WorkloadStatus, error) {
	if err := validWorkloadName(name, true); err != nil {
		return nil, err
	}
	if len(spec.Command) == 0 {
		return nil, errdefs.Invalid("workload %s: command is empty; give the argv to run", name)
	}
	_, in, err := m.running(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	st, err := in.agent.StartWorkload(ctx, name, spec)
	if err != nil {
		return nil, fmt.Errorf("starting workload %s: %w", name, err)
	}
	return st, nil
}

// Workload answers the status of the workload name. With wait > 0 the
// agent first waits up to wait until it is ready or ended for good.
func (m *Manager) Workload(ctx context.Context, idOrName, name string, wait time.Duration) (*WorkloadStatus, error) {
	if err := validWorkloadName(name, false); err != nil {
		return nil, err
	}
	if wait < 0 || wait > client.MaxWorkloadWait {
		return nil, errdefs.Invalid("wait %s: give 0 to %s", wait, client.MaxWorkloadWait)
	}
	_, in, err := m.running(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	return in.agent.Workload(ctx, name, wait)
}

// Workloads lists the workloads the agent supervises in a running sandbox.
func (m *Manager) Workloads(ctx context.Context, idOrName string) ([]WorkloadStatus, error) {
	_, in, err := m.running(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	return in.agent.Workloads(ctx)
}

// WorkloadLogs answers the last tail bytes of the workload's combined
// output (all the agent keeps when tail <= 0).
func (m *Manager) WorkloadLogs(ctx context.Context, idOrName, name string, tail int) ([]byte, error) {
	if err := validWorkloadName(name, false); err != nil {
		return nil, err
	}
	_, in, err := m.running(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	return in.agent.WorkloadLogs(ctx, name, tail)
}

// WorkloadPreviousLogs answers the output of the workload's previous run
// (before its last restart), as much as the agent still keeps;
// ErrNotFound when it has not restarted.
func (m *Manager) WorkloadPreviousLogs(ctx context.Context, idOrName, name string) ([]byte, error) {
	if err := validWorkloadName(name, false); err != nil {
		return nil, err
	}
	_, in, err := m.running(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	return in.agent.WorkloadPreviousLogs(ctx, name)
}

// StopWorkload stops the workload name and makes the agent forget it.
func (m *Manager) StopWorkload(ctx context.Context, idOrName, name string) error {
	if err := validWorkloadName(name, true); err != nil {
		return err
	}
	_, in, err := m.running(ctx, idOrName)
	if err != nil {
		return err
	}
	return in.agent.StopWorkload(ctx, name)
}
