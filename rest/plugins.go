package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/sandbox"
)

// Plugins is the plugin registry the API serves; *plugins.Registry
// implements it. Its errors are classed with errdefs: an invalid manifest
// is ErrInvalidArgument, an unknown plugin ErrNotFound, a name taken or a
// plugin in use ErrConflict or ErrAlreadyExists.
type Plugins interface {
	// Install parses, validates and stores a manifest (JSON) and enables
	// the plugin.
	Install(ctx context.Context, raw []byte) (*plugins.Plugin, error)
	List(ctx context.Context) ([]*plugins.Plugin, error)
	Get(ctx context.Context, name string) (*plugins.Plugin, error)
	Enable(ctx context.Context, name string) (*plugins.Plugin, error)
	Disable(ctx context.Context, name string) (*plugins.Plugin, error)
	Remove(ctx context.Context, name string) error
}

// Body limits of the plugin routes.
const (
	maxManifestBytes    = plugins.MaxManifestSize
	maxActionInputBytes = 8 << 20
)

// errNoPlugins answers the plugin routes of a daemon without a registry.
var errNoPlugins = errdefs.Unavailable("plugins are not enabled on this daemon")

type pluginNameInput struct {
	Name string `path:"name" minLength:"2" maxLength:"32" pattern:"^[a-z][a-z0-9-]{1,31}$" patternDescription:"a plugin name: 2 to 32 of a-z, 0-9 and '-', starting with a letter" doc:"Plugin name."`
}

type pluginOutput struct {
	Body *plugins.Plugin
}

type pluginsOutput struct {
	Body struct {
		Items []*plugins.Plugin `json:"items"`
	}
}

type installPluginInput struct {
	RawBody []byte `contentType:"application/json"`
}

type actionInput struct {
	ID      string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Plugin  string `path:"plugin" minLength:"2" maxLength:"32" pattern:"^[a-z][a-z0-9-]{1,31}$" patternDescription:"a plugin name: 2 to 32 of a-z, 0-9 and '-', starting with a letter" doc:"Plugin name: the sandbox's runtime."`
	Action  string `path:"action" minLength:"1" maxLength:"48" pattern:"^[a-z][a-z0-9_]{0,47}$" patternDescription:"an action name: 1 to 48 of a-z, 0-9 and '_', starting with a letter" doc:"Action name, as the plugin lists it."`
	Accept  string `header:"Accept" doc:"application/x-ndjson asks for the action's progress lines as they come, then its result line, one JSON object a line; otherwise the answer comes when the action is done."`
	RawBody []byte `contentType:"application/json"`
}

// registry returns the plugin registry, or the 503 of a daemon without
// one.
func (s *server) registry(ctx context.Context, what string) (Plugins, error) {
	if s.plugins == nil {
		return nil, s.fail(ctx, what, errNoPlugins)
	}
	return s.plugins, nil
}

func (s *server) pluginRoutes() {
	huma.Register(s.api, op(http.MethodGet, "/v1/plugins", "list-plugins", "plugins",
		"List plugins", "Every installed plugin, enabled or not, with its manifest and actions.",
		http.StatusServiceUnavailable),
		func(ctx context.Context, _ *struct{}) (*pluginsOutput, error) {
			reg, err := s.registry(ctx, "list plugins")
			if err != nil {
				return nil, err
			}
			list, err := reg.List(ctx)
			if err != nil {
				return nil, s.fail(ctx, "list plugins", err)
			}
			out := &pluginsOutput{}
			out.Body.Items = list
			if out.Body.Items == nil {
				out.Body.Items = []*plugins.Plugin{}
			}
			return out, nil
		})

	install := op(http.MethodPost, "/v1/plugins", "install-plugin", "plugins",
		"Install a plugin",
		"Takes a plugin manifest (JSON, at most 64 MiB: artifact files sent inline as base64 content fit, such as a workload binary of tens of MB), "+
			"checks it and its artifacts, builds the image its rootfs asks for (Debian packages: minutes the first time, "+
			"reported as image.progress events with ref plugin:NAME), stores it and enables it: "+
			"sandboxes can then be created with its name as runtime, and its actions called. "+
			"Artifacts are inline base64 content, files under the daemon's plugin_dirs, or public http(s) URLs; needs an admin token. "+
			"An invalid manifest answers 400 saying what to fix; a name already installed answers 409 (remove it first).",
		http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable)
	install.DefaultStatus = http.StatusCreated
	install.MaxBodyBytes = maxManifestBytes
	// The registry parses and checks the manifest: Huma would check the
	// raw body against the "binary string" schema of a RawBody.
	install.SkipValidateBody = true
	huma.Register(s.api, install, func(ctx context.Context, in *installPluginInput) (*pluginOutput, error) {
		reg, err := s.registry(ctx, "install plugin")
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(in.RawBody)) == 0 {
			return nil, s.fail(ctx, "install plugin", errdefs.Invalid("the body is empty: send the plugin's manifest as JSON"))
		}
		// Huma reuses the body's buffer once the handler returns.
		p, err := reg.Install(ctx, bytes.Clone(in.RawBody))
		if err != nil {
			return nil, s.fail(ctx, "install plugin", err)
		}
		return &pluginOutput{Body: p}, nil
	})
	s.jsonBody(install, "The plugin's manifest.", reflect.TypeFor[plugins.Manifest](), true)

	huma.Register(s.api, op(http.MethodGet, "/v1/plugins/{name}", "get-plugin", "plugins",
		"Get a plugin", "", http.StatusNotFound, http.StatusServiceUnavailable),
		func(ctx context.Context, in *pluginNameInput) (*pluginOutput, error) {
			reg, err := s.registry(ctx, "get plugin")
			if err != nil {
				return nil, err
			}
			p, err := reg.Get(ctx, in.Name)
			if err != nil {
				return nil, s.fail(ctx, "get plugin", err)
			}
			return &pluginOutput{Body: p}, nil
		})

	del := op(http.MethodDelete, "/v1/plugins/{name}", "remove-plugin", "plugins",
		"Remove a plugin",
		"Uninstalls the plugin and its artifacts. A plugin whose runtime sandboxes still use answers 409: delete them first.",
		http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable)
	del.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, del, func(ctx context.Context, in *pluginNameInput) (*struct{}, error) {
		reg, err := s.registry(ctx, "remove plugin")
		if err != nil {
			return nil, err
		}
		if err := reg.Remove(ctx, in.Name); err != nil {
			return nil, s.fail(ctx, "remove plugin", err)
		}
		return nil, nil
	})

	toggles := []struct {
		verb, summary, desc string
		fn                  func(Plugins) func(context.Context, string) (*plugins.Plugin, error)
	}{
		{"enable", "Enable a plugin",
			"Sandboxes can be created with the plugin's runtime and its actions called (as MCP tools too). Enabling an enabled plugin is a no-op.",
			func(p Plugins) func(context.Context, string) (*plugins.Plugin, error) { return p.Enable }},
		{"disable", "Disable a plugin",
			"No new sandboxes of its runtime and no action calls (409) until it is enabled again; running sandboxes keep running. Disabling a disabled plugin is a no-op.",
			func(p Plugins) func(context.Context, string) (*plugins.Plugin, error) { return p.Disable }},
	}
	for _, tg := range toggles {
		huma.Register(s.api, op(http.MethodPost, "/v1/plugins/{name}/"+tg.verb, tg.verb+"-plugin", "plugins",
			tg.summary, tg.desc, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable),
			func(ctx context.Context, in *pluginNameInput) (*pluginOutput, error) {
				reg, err := s.registry(ctx, tg.verb+" plugin")
				if err != nil {
					return nil, err
				}
				p, err := tg.fn(reg)(ctx, in.Name)
				if err != nil {
					return nil, s.fail(ctx, tg.verb+" plugin", err)
				}
				return &pluginOutput{Body: p}, nil
			})
	}

	act := op(http.MethodPost, "/v1/sandboxes/{id}/actions/{plugin}/{action}", "call-action", "plugins",
		"Call a plugin action",
		"Calls one of the plugin's actions on the workload inside the sandbox, whose runtime must be that plugin. "+
			"The body is the action's input, checked against its input schema (an empty body is `{}`); "+
			"the answer is the workload's JSON as is. "+
			"The plugin's actions and their schemas are listed by GET /v1/plugins/{name}. "+
			"A disabled plugin, or a sandbox not running, answers 409; a workload that fails answers 502.",
		http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout)
	act.MaxBodyBytes = maxActionInputBytes
	act.SkipValidateBody = true // checked here and against the action's schema by the engine
	huma.Register(s.api, act, func(ctx context.Context, in *actionInput) (*huma.StreamResponse, error) {
		if _, err := s.registry(ctx, "action"); err != nil {
			return nil, err
		}
		input := json.RawMessage(bytes.TrimSpace(in.RawBody))
		switch {
		case len(input) == 0:
			input = json.RawMessage(`{}`)
		case !json.Valid(input):
			return nil, s.fail(ctx, "action", errdefs.Invalid("the body is not JSON: send the action's input as a JSON object, or nothing for {}"))
		default:
			// Huma reuses the body's buffer once the handler returns.
			input = bytes.Clone(input)
		}
		if strings.Contains(in.Accept, ndjson) {
			id, plugin, action := in.ID, in.Plugin, in.Action
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				s.streamAction(ctx, hc, id, plugin, action, input)
			}}, nil
		}
		out, err := s.eng.Action(ctx, in.ID, in.Plugin, in.Action, input)
		if err != nil {
			return nil, s.fail(ctx, "action", err)
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			body := out.Body
			if out.IsJSON() {
				var c bytes.Buffer
				if json.Compact(&c, body) == nil && c.Len() > 0 {
					body = c.Bytes()
				} else if len(bytes.TrimSpace(body)) == 0 {
					body = []byte("null")
				}
			}
			hc.SetHeader("Content-Type", out.ContentType)
			hc.SetHeader("Content-Length", strconv.Itoa(len(body)))
			hc.SetStatus(http.StatusOK)
			_, _ = hc.BodyWriter().Write(body)
		}}, nil
	})
	s.jsonBody(act, "The action's input (see its input_schema); empty means {}.", nil, false)
	ok := s.api.OpenAPI().Paths[act.Path].Post.Responses["200"]
	ok.Description = "The action's answer: the workload's JSON as is (null when it answered nothing), " +
		"or, for an action whose output_content_types name a binary type (image/png, application/pdf, ...), the bytes with their content type. " +
		"With Accept: application/x-ndjson, the progress lines of an action that streams, then its result line " +
		"(`{\"type\":\"progress\",\"message\":...}` ... `{\"type\":\"result\",...}`, or `{\"type\":\"error\",\"detail\":...}`)."
	ok.Content = map[string]*huma.MediaType{
		"application/json":         {Schema: &huma.Schema{}},
		ndjson:                     {Schema: &huma.Schema{Type: "string"}},
		"image/*":                  {Schema: &huma.Schema{Type: "string", Format: "binary"}},
		"application/pdf":          {Schema: &huma.Schema{Type: "string", Format: "binary"}},
		"application/octet-stream": {Schema: &huma.Schema{Type: "string", Format: "binary"}},
	}
}

// ndjson is the media type of streamed action answers.
const ndjson = "application/x-ndjson"

// streamAction answers an action as NDJSON: each progress line as the
// workload sends it, then the result line. An error before the first
// line is an ordinary problem answer; after it, an error line.
func (s *server) streamAction(ctx context.Context, hc huma.Context, id, plugin, action string, input json.RawMessage) {
	w := hc.BodyWriter()
	started := false
	start := func() {
		if !started {
			hc.SetHeader("Content-Type", ndjson)
			hc.SetStatus(http.StatusOK)
			started = true
		}
	}
	line := func(b []byte) {
		start()
		_, _ = w.Write(append(bytes.TrimSpace(b), '\n'))
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		} else if rw, ok := w.(http.ResponseWriter); ok {
			_ = http.NewResponseController(rw).Flush()
		}
	}
	out, err := s.eng.Action(ctx, id, plugin, action, input, sandbox.ActionOptions{
		Progress: func(p sandbox.ActionProgress) { line(p.Line) },
	})
	if err != nil {
		p := problemOf(err)
		s.logFailure(ctx, "action", p.Status, err)
		if !started {
			hc.SetHeader("Content-Type", "application/problem+json")
			hc.SetStatus(p.Status)
			b, _ := json.Marshal(p)
			_, _ = w.Write(b)
			return
		}
		b, _ := json.Marshal(map[string]any{"type": "error", "status": p.Status, "detail": p.Detail})
		line(b)
		return
	}
	line(resultLine(out))
}

// resultLine is an answer as the result line of a stream: a JSON object
// with "type": "result" (set when the workload's object lacks it), any
// other JSON as {"type":"result","value":...}, bytes as
// {"type":"result","content_type":...,"data":<base64>}.
func resultLine(a *sandbox.ActionAnswer) []byte {
	if !a.IsJSON() {
		b, _ := json.Marshal(map[string]any{"type": "result", "content_type": a.ContentType, "data": a.Body})
		return b
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(a.Body, &obj) == nil && obj != nil {
		if string(obj["type"]) == `"result"` {
			return a.Body
		}
		obj["type"] = json.RawMessage(`"result"`)
		b, _ := json.Marshal(obj)
		return b
	}
	body := a.Body
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("null")
	}
	b, _ := json.Marshal(map[string]json.RawMessage{"type": json.RawMessage(`"result"`), "value": body})
	return b
}

// jsonBody adjusts the request body of a registered POST operation whose
// input is a RawBody of JSON (with SkipValidateBody): it is documented
// with the schema of t (nil: any JSON) instead of as a binary string, and
// required or not. Huma shares the RequestBody between the document and
// the handler, so required holds at run time too (Huma marks every
// RawBody required).
func (s *server) jsonBody(o huma.Operation, desc string, t reflect.Type, required bool) {
	schema := &huma.Schema{}
	if t != nil {
		schema = s.api.OpenAPI().Components.Schemas.Schema(t, true, "")
	}
	rb := s.api.OpenAPI().Paths[o.Path].Post.RequestBody
	rb.Description = desc
	rb.Required = required
	rb.Content = map[string]*huma.MediaType{"application/json": {Schema: schema}}
}
