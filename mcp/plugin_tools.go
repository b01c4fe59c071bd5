package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/sandbox"
)

// maxToolName is the longest tool name MCP allows.
const maxToolName = 128

// pluginTool is the tool made from one action of an enabled plugin.
type pluginTool struct {
	tool   *sdk.Tool
	plugin string
	action string
	// key changes whenever the tool or what its handler calls changes.
	key string
}

// skippedAction is an action that did not become a tool, and why.
type skippedAction struct {
	plugin, action, tool, reason string
}

// planPluginTools returns the tools of the enabled plugins in ps, ordered
// by plugin and action name, and the actions that cannot be tools. A tool
// never takes a name in reserved (the built-in tools) nor one an earlier
// action took. It is pure: plugin_list and the tool reconciler agree on
// which tool belongs to which plugin.
func planPluginTools(ps []*plugins.Plugin, reserved map[string]bool) ([]pluginTool, []skippedAction) {
	ps = sortedPlugins(ps)
	var tools []pluginTool
	var skipped []skippedAction
	taken := map[string]string{} // tool name → plugin/action that has it
	for _, p := range ps {
		if p == nil || !p.Enabled {
			continue
		}
		for _, a := range p.Actions {
			name := toolName(p.Name, a.Name)
			skip := func(reason string) {
				skipped = append(skipped, skippedAction{plugin: p.Name, action: a.Name, tool: name, reason: reason})
			}
			if reserved[name] {
				skip("its name is a built-in tool's")
				continue
			}
			if by, ok := taken[name]; ok {
				skip("its name is already the tool of " + by)
				continue
			}
			t, err := actionTool(p, a, name)
			if err != nil {
				skip(err.Error())
				continue
			}
			key, err := json.Marshal(struct {
				Tool           *sdk.Tool
				Plugin, Action string
			}{t, p.Name, a.Name})
			if err != nil {
				skip(err.Error())
				continue
			}
			taken[name] = p.Name + "/" + a.Name
			tools = append(tools, pluginTool{tool: t, plugin: p.Name, action: a.Name, key: string(key)})
		}
	}
	return tools, skipped
}

func sortedPlugins(ps []*plugins.Plugin) []*plugins.Plugin {
	out := make([]*plugins.Plugin, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// toolName is the tool of a plugin's action: "<plugin>_<action>", with
// every character MCP clients do not all accept ('-', '.', anything not an
// ASCII letter, digit or '_') made '_', cut to MCP's 128 characters.
func toolName(plugin, action string) string {
	var b strings.Builder
	for _, r := range plugin + "_" + action {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > maxToolName {
		name = name[:maxToolName]
	}
	return name
}

// actionTool builds the tool of action a of plugin p, named name.
func actionTool(p *plugins.Plugin, a plugins.Action, name string) (*sdk.Tool, error) {
	schema, err := actionInputSchema(p.Name, a.Input)
	if err != nil {
		return nil, err
	}
	method := strings.ToUpper(a.Method)
	if method == "" {
		method = "POST"
	}
	desc := strings.TrimSpace(a.Description)
	if desc == "" {
		desc = fmt.Sprintf("Call %s %s on the plugin's workload.", method, a.Path)
	}
	tag := "plugin " + p.Name
	if p.Version != "" {
		tag += " " + p.Version
	}
	return &sdk.Tool{
		Name:        name,
		Title:       p.Name + ": " + a.Name,
		Description: desc + " (" + tag + ")",
		InputSchema: schema,
		Annotations: actionHints(method),
	}, nil
}

// actionHints are the hints of an action by its HTTP method. A plugin's
// workload may reach the network, so no action claims a closed world.
func actionHints(method string) *sdk.ToolAnnotations {
	switch method {
	case "GET":
		return &sdk.ToolAnnotations{ReadOnlyHint: true}
	case "PUT", "DELETE":
		return &sdk.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true}
	default:
		return &sdk.ToolAnnotations{DestructiveHint: ptr(true)}
	}
}

// actionInputSchema is a tool's input schema: the action's input schema
// (any object when it has none) with a required sandbox_id added. raw is
// decoded afresh, so the plugin's schema is never changed.
func actionInputSchema(plugin string, raw json.RawMessage) (map[string]any, error) {
	schema := map[string]any{}
	if raw := bytes.TrimSpace(raw); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) && !bytes.Equal(raw, []byte("true")) {
		if err := json.Unmarshal(raw, &schema); err != nil {
			return nil, fmt.Errorf("its input schema is not a JSON object: %v", err)
		}
	}
	switch t := schema["type"]; t {
	case nil:
		schema["type"] = "object"
	case "object":
	default:
		return nil, fmt.Errorf("its input schema has type %v; a tool's input must be an object", t)
	}
	props := map[string]any{}
	if v, ok := schema["properties"]; ok {
		if props, ok = v.(map[string]any); !ok {
			return nil, fmt.Errorf("its input schema's properties is not an object")
		}
	}
	if _, ok := props["sandbox_id"]; ok {
		return nil, fmt.Errorf("its input has a sandbox_id property, which the tool needs for the sandbox to run it in")
	}
	props["sandbox_id"] = map[string]any{
		"type": "string",
		"description": fmt.Sprintf("id (or name) of a sandbox of runtime %s to run the action in, as returned by sandbox_create (runtime %q) or sandbox_list",
			plugin, plugin),
	}
	schema["properties"] = props
	required := []any{"sandbox_id"}
	if v, ok := schema["required"]; ok {
		rest, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("its input schema's required is not an array")
		}
		required = append(required, rest...)
	}
	schema["required"] = required
	return schema, nil
}

// actionHandler calls action of plugin in the sandbox named by the
// sandbox_id argument, with the other arguments as the action's input.
// When the client sent a progress token, the progress lines of an action
// that streams become progress notifications.
func (s *Server) actionHandler(plugin, action string) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		var opts sandbox.ActionOptions
		if tok := req.Params.GetProgressToken(); tok != nil && req.Session != nil {
			opts.Progress = func(p sandbox.ActionProgress) {
				_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{
					ProgressToken: tok, Message: p.Message, Progress: p.Progress, Total: p.Total})
			}
		}
		res, err := s.callAction(ctx, plugin, action, req.Params.Arguments, opts)
		if err != nil {
			res = &sdk.CallToolResult{}
			res.SetError(toolError(err))
		}
		return res, nil
	}
}

func (s *Server) callAction(ctx context.Context, plugin, action string, raw json.RawMessage, opts sandbox.ActionOptions) (*sdk.CallToolResult, error) {
	args := map[string]json.RawMessage{}
	if raw := bytes.TrimSpace(raw); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &args); err != nil {
			return nil, errdefs.Invalid("arguments: want a JSON object: %v", err)
		}
	}
	var ref SandboxRef
	if v, ok := args["sandbox_id"]; ok {
		if err := json.Unmarshal(v, &ref.SandboxID); err != nil {
			return nil, errdefs.Invalid("sandbox_id: want a string, the id or name of a sandbox (see sandbox_list)")
		}
	}
	delete(args, "sandbox_id")
	input, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	out, err := s.eng.Action(ctx, ref.SandboxID, plugin, action, input, opts)
	if err != nil {
		return nil, err
	}
	return actionResult(out, "volant://sandboxes/"+url.PathEscape(ref.SandboxID)+"/actions/"+plugin+"/"+action), nil
}

// actionResult is an action's answer as a tool result. An image answer is
// image content; another binary answer (a PDF) is an embedded resource
// whose blob is the bytes, named by uri. A JSON answer is its text (and
// structured content when it is an object), with every base64 image or
// PDF its output schema marks (contentEncoding base64, contentMediaType)
// taken out of the text and sent as image content or an embedded resource
// after it.
func actionResult(a *sandbox.ActionAnswer, uri string) *sdk.CallToolResult {
	if !a.IsJSON() {
		return &sdk.CallToolResult{Content: []sdk.Content{mediaContent(a.ContentType, a.Body, uri)}}
	}
	answer := bytes.TrimSpace(a.Body)
	if len(answer) == 0 {
		answer = []byte("null")
	}
	answer, media := plugins.SplitMedia(a.Output, answer)
	res := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text(answer)}}}
	if answer[0] == '{' && json.Valid(answer) {
		res.StructuredContent = json.RawMessage(answer)
	}
	for i, m := range media {
		res.Content = append(res.Content, mediaContent(m.MediaType, m.Data, fmt.Sprintf("%s/media/%d", uri, i+1)))
	}
	return res
}

// mediaContent is bytes of a media type as tool content: an image, or
// an embedded resource with the bytes as its blob.
func mediaContent(mediaType string, data []byte, uri string) sdk.Content {
	if strings.HasPrefix(mediaType, "image/") {
		return &sdk.ImageContent{Data: data, MIMEType: mediaType}
	}
	return &sdk.EmbeddedResource{Resource: &sdk.ResourceContents{URI: uri, MIMEType: mediaType, Blob: data}}
}
