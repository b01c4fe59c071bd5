package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
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
	RawBody []byte `contentType:"application/json"`
}

type actionOutput struct {
	Body json.RawMessage
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
	huma.Register(s.api, act, func(ctx context.Context, in *actionInput) (*actionOutput, error) {
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
		out, err := s.eng.Action(ctx, in.ID, in.Plugin, in.Action, input)
		if err != nil {
			return nil, s.fail(ctx, "action", err)
		}
		if len(out) == 0 {
			out = json.RawMessage(`null`)
		}
		return &actionOutput{Body: out}, nil
	})
	s.jsonBody(act, "The action's input (see its input_schema); empty means {}.", nil, false)
	s.api.OpenAPI().Paths[act.Path].Post.Responses["200"].Description = "The action's answer: the workload's JSON as is (null when it answered nothing)."
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
