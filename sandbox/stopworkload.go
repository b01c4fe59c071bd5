package sandbox

import (
	"context"
	"time"

	"github.com/volant-sh/volant/store"
)

// workloadStopWait bounds how long a stop waits for a plugin's workload
// to end (the agent sends TERM, then KILL after its grace period).
const workloadStopWait = 30 * time.Second

// endWorkload stops a running plugin sandbox's workload before the
// sandbox stops, so the workload can write its state out (a browser its
// cookies and local storage) before the disks are flushed and kept. A
// workload that does not end in time, or an agent that does not answer,
// does not hold the stop up: the stop goes on as before.
func (m *Manager) endWorkload(ctx context.Context, rec store.Sandbox) {
	in, ok := m.instance(rec.ID)
	if !ok || State(rec.State) != StateRunning {
		return
	}
	rt, err := m.runtime(ctx, rec.Runtime)
	if err != nil || rt.Plugin == nil || rt.Plugin.Workload == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workloadStopWait)
	defer cancel()
	if err := in.agent.StopWorkload(ctx, workloadName); err != nil {
		m.log.Warn("stopping the plugin's workload before the sandbox stops failed; stopping anyway", "sandbox", rec.ID, "err", err)
	}
}
