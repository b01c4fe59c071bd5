package sandbox

import (
	"context"
	"sync"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
)

// Guest runs the operations on what is inside one running sandbox: files,
// background processes, terminals and port tunnels, through its agent.
// Every operation validates its typed request first and counts as activity
// for the sandbox's idle timeout. The agent itself is not reachable
// through a Guest.
type Guest struct {
	id    string
	agent *client.Client
	// env is the sandbox's own environment, under each command's.
	env map[string]string
	// touch marks the sandbox active.
	touch func(context.Context)
}

// NewGuest returns a Guest over an agent client, for tests' fake engines;
// env is the sandbox's environment and touch, if not nil, is called at
// each operation.
func NewGuest(id string, agent *client.Client, env map[string]string, touch func(context.Context)) *Guest {
	return &Guest{id: id, agent: agent, env: env, touch: touch}
}

// ID returns the sandbox's id.
func (g *Guest) ID() string { return g.id }

// Guest returns the operations on what runs inside a running sandbox, or
// an error that says what to do when it is not running.
func (m *Manager) Guest(ctx context.Context, idOrName string) (*Guest, error) {
	rec, in, err := m.running(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	touched := rec
	return &Guest{id: rec.ID, agent: in.agent, env: specOf(rec).Spec.Env, touch: func(ctx context.Context) {
		mu.Lock()
		r := touched
		if time.Since(r.LastActiveAt) >= touchEvery {
			touched.LastActiveAt = time.Now().UTC()
		}
		mu.Unlock()
		m.touch(ctx, r)
	}}, nil
}

// agentFor validates a request, marks the sandbox active and returns the
// agent.
func (g *Guest) agentFor(ctx context.Context, validate func() error) (*client.Client, error) {
	if err := validate(); err != nil {
		return nil, err
	}
	if g.touch != nil {
		g.touch(ctx)
	}
	return g.agent, nil
}
