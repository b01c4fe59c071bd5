package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/store"
)

// An agent that stops answering (the guest hung, its VMM stopped or
// starved) must not hang the requests sent to it: each agent call is
// bounded by its own timeout plus DefaultAgentGrace, and a call that runs
// out marks the sandbox with a reason (its record's Reason, state
// unchanged: the guest may come back), cleared by the next call that is
// answered.

// DefaultAgentGrace is how long past a call's own timeout the engine
// waits for the agent's answer (Config.AgentGrace's zero value).
const DefaultAgentGrace = 30 * time.Second

// unresponsivePrefix starts the reason a sandbox is marked with.
const unresponsivePrefix = "the agent did not answer"

// agentDeadline bounds ctx for an agent call whose own timeout is
// timeout; the returned context's own deadline tells agentTimedOut.
func (m *Manager) agentDeadline(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	grace := m.cfg.AgentGrace
	if grace <= 0 {
		grace = DefaultAgentGrace
	}
	return context.WithTimeout(ctx, timeout+grace)
}

// agentTimedOut turns the error of an agent call whose bounded context
// ran out, while the caller's did not, into a clear error, and marks the
// sandbox. It returns nil for any other error.
func (m *Manager) agentTimedOut(caller, bounded context.Context, rec store.Sandbox, err error) error {
	if err == nil || caller.Err() != nil || !errors.Is(bounded.Err(), context.DeadlineExceeded) {
		return nil
	}
	reason := fmt.Sprintf("%s at %s: the guest may be hung or its VMM stopped or starved", unresponsivePrefix, time.Now().UTC().Format(time.RFC3339))
	m.log.Warn("sandbox agent not answering", "sandbox", rec.ID)
	ctx := context.WithoutCancel(caller)
	_, _ = m.update(ctx, rec.ID, func(r *store.Sandbox) error {
		if r.State == string(StateRunning) {
			r.Reason = reason
		}
		return nil
	})
	return errdefs.WithRemedy(errdefs.Unavailable("sandbox %s: %s; get the sandbox to see its state, or stop and start it", rec.ID, reason),
		errdefs.OpSandboxGet, "id", rec.ID)
}

// agentAnswered clears the mark of an agent that answers again.
func (m *Manager) agentAnswered(ctx context.Context, rec store.Sandbox) {
	if !strings.HasPrefix(rec.Reason, unresponsivePrefix) {
		return
	}
	_, _ = m.update(context.WithoutCancel(ctx), rec.ID, func(r *store.Sandbox) error {
		if strings.HasPrefix(r.Reason, unresponsivePrefix) {
			r.Reason = ""
		}
		return nil
	})
}
