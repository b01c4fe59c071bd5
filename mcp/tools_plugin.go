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
	Name        string `json:"name" jsonschema:"the plugin's name: pass it as runtime to sandbox_create"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	Enabled     bool   `json:"enabled" jsonschema:"whether sandboxes of it can be created and its tools are served"`
	// Tools are the names of the tools of its actions; empty while it is
	// disabled.
	Tools []string `json:"tools" jsonschema:"the tools of its actions (named <plugin>_<action>); they take the sandbox_id of a sandbox of this runtime"`
}

// pluginNote explains the empty plugin list of a server without a plugin
// registry.
const pluginNote = "runtime plugins are not available on this server; every sandbox runs the built-in default runtime"

func (s *Server) addPluginTools() {
	addTool(s, &sdk.Tool{Name: "plugin_list", Title: "List runtime plugins",
		Description: "List the runtime plugins sandboxes can run (sandbox_create runtime): name, version, whether enabled, and the tools of their actions.",
		Annotations: readOnly},
		func(ctx context.Context, _ *sdk.CallToolRequest, _ Empty) (*sdk.CallToolResult, *PluginListOutput, error) {
			if s.plugins == nil {
				return nil, &PluginListOutput{Plugins: []PluginInfo{}, Note: pluginNote}, nil
			}
			ps, err := s.plugins.List(ctx)
			if err != nil {
				return nil, nil, toolError(err)
			}
			ps = sortedPlugins(ps)
			tools, _ := planPluginTools(ps, s.builtin)
			byPlugin := map[string][]string{}
			for _, t := range tools {
				byPlugin[t.plugin] = append(byPlugin[t.plugin], t.tool.Name)
			}
			out := &PluginListOutput{Plugins: []PluginInfo{}}
			for _, p := range ps {
				names := byPlugin[p.Name]
				if names == nil {
					names = []string{}
				}
				out.Plugins = append(out.Plugins, PluginInfo{Name: p.Name, Version: p.Version, Description: p.Description,
					Enabled: p.Enabled, Tools: names})
			}
			return nil, out, nil
		})
}
