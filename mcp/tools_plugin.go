package mcp

import (
	"context"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// PluginListOutput is the output of plugin_list.
type PluginListOutput struct {
	Plugins []PluginInfo `json:"plugins"`
	Note    string       `json:"note,omitempty"`
}

// PluginInfo describes one runtime plugin.
type PluginInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Enabled bool   `json:"enabled"`
}

// pluginNote explains the empty plugin list until the plugin registry is
// wired in. Plugin resources (volant://plugins/{name}/manifest and
// /openapi) and per-action tools come with it.
const pluginNote = "runtime plugins are not available in this version; every sandbox runs the built-in default runtime"

func (s *Server) addPluginTools() {
	sdk.AddTool(s.srv, &sdk.Tool{Name: "plugin_list", Title: "List runtime plugins",
		Description: "List the runtime plugins sandboxes can run (sandbox_create runtime).", Annotations: readOnly},
		func(context.Context, *sdk.CallToolRequest, Empty) (*sdk.CallToolResult, *PluginListOutput, error) {
			return nil, &PluginListOutput{Plugins: []PluginInfo{}, Note: pluginNote}, nil
		})
}
