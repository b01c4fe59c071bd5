package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
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

// ActionAnswer is an action's answer: its media type and bytes.
type ActionAnswer struct {
	// ContentType is application/json for a JSON answer, else the binary
	// media type the action answered (image/png, application/pdf, ...).
	ContentType string
	// Body is the answer's bytes (for a streamed call, the result line).
	Body []byte
}

// ActionOptions tune CallAction.
type ActionOptions struct {
	// Progress, when set, asks for the action's progress lines as they
	// come (Accept: application/x-ndjson) and receives each one, a JSON
	// object such as {"type":"progress","message":"..."}.
	Progress func(line json.RawMessage)
}

// CallAction calls a plugin's action and returns its typed answer: JSON,
// or the bytes of a binary media type. With opts.Progress the answer is
// streamed: each progress line goes to it and the answer is the result
// line; an error line is returned as an *Error.
func (c *Client) CallAction(ctx context.Context, idOrName, plugin, action string, input json.RawMessage, opts ActionOptions) (*ActionAnswer, error) {
	r := request{method: http.MethodPost,
		path:   sandboxPath(idOrName, "actions", url.PathEscape(plugin), url.PathEscape(action)),
		header: http.Header{"Accept": {"application/json, application/problem+json, */*"}}}
	if opts.Progress != nil {
		r.header.Set("Accept", "application/x-ndjson, application/problem+json")
	}
	if len(input) > 0 {
		r.body, r.contentType = bytes.NewReader(input), "application/json"
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/x-ndjson" {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("reading the answer of action %s: %w", action, err)
		}
		return &ActionAnswer{ContentType: mt, Body: b}, nil
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var head struct {
			Type   string `json:"type"`
			Detail string `json:"detail"`
			Status int    `json:"status"`
		}
		_ = json.Unmarshal(line, &head)
		switch head.Type {
		case "result":
			return &ActionAnswer{ContentType: "application/json", Body: bytes.Clone(line)}, nil
		case "error":
			return nil, &Error{Status: head.Status, Title: http.StatusText(head.Status), Detail: head.Detail, Message: head.Detail}
		}
		opts.Progress(bytes.Clone(line))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the stream of action %s: %w", action, err)
	}
	return nil, fmt.Errorf("the stream of action %s ended without a result line", action)
}
