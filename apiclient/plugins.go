package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/volant-sh/volant/plugins"
)

func pluginPath(name string, more ...string) string {
	p := "/v1/plugins/" + url.PathEscape(name)
	for _, m := range more {
		p += "/" + m
	}
	return p
}

// ListPlugins returns every installed plugin, enabled or not.
func (c *Client) ListPlugins(ctx context.Context) ([]*plugins.Plugin, error) {
	var out items[*plugins.Plugin]
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/plugins"}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// GetPlugin returns one plugin with its manifest and actions.
func (c *Client) GetPlugin(ctx context.Context, name string) (*plugins.Plugin, error) {
	return c.pluginCall(ctx, http.MethodGet, pluginPath(name), nil)
}

// InstallPlugin installs and enables the plugin of a manifest, sent as
// the JSON given (the server checks it and says what to fix).
func (c *Client) InstallPlugin(ctx context.Context, manifest json.RawMessage) (*plugins.Plugin, error) {
	return c.pluginCall(ctx, http.MethodPost, "/v1/plugins", manifest)
}

// EnablePlugin allows new sandboxes of the plugin's runtime and its
// actions.
func (c *Client) EnablePlugin(ctx context.Context, name string) (*plugins.Plugin, error) {
	return c.pluginCall(ctx, http.MethodPost, pluginPath(name, "enable"), nil)
}

// DisablePlugin refuses new sandboxes of the plugin's runtime and its
// actions; running sandboxes keep running.
func (c *Client) DisablePlugin(ctx context.Context, name string) (*plugins.Plugin, error) {
	return c.pluginCall(ctx, http.MethodPost, pluginPath(name, "disable"), nil)
}

// RemovePlugin uninstalls a plugin no sandbox uses.
func (c *Client) RemovePlugin(ctx context.Context, name string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: pluginPath(name)}, nil)
}

func (c *Client) pluginCall(ctx context.Context, method, path string, body []byte) (*plugins.Plugin, error) {
	r := request{method: method, path: path}
	if body != nil {
		r.body, r.contentType = bytes.NewReader(body), "application/json"
	}
	var p plugins.Plugin
	if err := c.call(ctx, r, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Action calls a plugin's action in a sandbox of that plugin's runtime
// and returns the workload's JSON answer as is. An empty input means {}.
func (c *Client) Action(ctx context.Context, idOrName, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
	r := request{method: http.MethodPost,
		path: sandboxPath(idOrName, "actions", url.PathEscape(plugin), url.PathEscape(action))}
	if len(input) > 0 {
		r.body, r.contentType = bytes.NewReader(input), "application/json"
	}
	outer, _ := ctx.Value(rawKey{}).(*[]byte)
	var raw []byte
	if err := c.call(WithRawAnswer(ctx, &raw), r, nil); err != nil {
		return nil, err
	}
	if outer != nil {
		*outer = raw
	}
	return json.RawMessage(raw), nil
}
