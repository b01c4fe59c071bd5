package sandbox

import (
	"context"
	"encoding/json"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
)

// Plugins is what the engine needs of the plugin registry;
// *plugins.Registry implements it.
type Plugins interface {
	Runtime(ctx context.Context, name string) (*plugins.Runtime, error)
	Action(ctx context.Context, plugin, action string) (*plugins.Action, error)
}

// Action calls a plugin's action in a sandbox of that plugin's runtime:
// input is checked against the action's input schema and sent to the
// workload's HTTP API over the agent channel; the answer is the
// workload's JSON.
func (m *Manager) Action(ctx context.Context, idOrName, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
	return nil, errdefs.Unavailable("plugin actions are not wired yet")
}
