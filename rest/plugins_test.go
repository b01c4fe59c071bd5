package rest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/plugins/pluginstest"
	"github.com/volant-sh/volant/rest"
)

// newPluginEnv is an env whose API has a plugin registry.
var _ rest.Plugins = (*pluginstest.Registry)(nil)

func newPluginEnv(t *testing.T) (*env, *pluginstest.Registry) {
	fp := pluginstest.New()
	return newEnv(t, func(o *rest.Options) { o.Plugins = fp }), fp
}

// httpdManifest is a plugin manifest as a client sends it.
const httpdManifest = `{
  "schema_version": 1,
  "name": "httpd",
  "version": "1.0.0",
  "description": "busybox httpd with a CGI",
  "artifacts": [{"path": "/www/cgi-bin/hello", "content": "IyEvYmluL3NoCmVjaG8gaGk=", "mode": "0755"}],
  "workload": {"command": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"], "port": 8080},
  "actions": [{"name": "hello", "method": "GET", "path": "/cgi-bin/hello"}]
}`

func TestPluginLifecycle(t *testing.T) {
	e, fp := newPluginEnv(t)
	var list struct{ Items []plugins.Plugin }
	want(t, e.do("GET", "/v1/plugins", nil), 200, &list)
	if list.Items == nil || len(list.Items) != 0 {
		t.Errorf("empty list = %+v, want items: []", list)
	}

	var p plugins.Plugin
	want(t, e.do("POST", "/v1/plugins", rawJSON(httpdManifest)), http.StatusCreated, &p)
	if p.Name != "httpd" || !p.Enabled || len(p.Actions) != 1 || p.Manifest.Workload.Port != 8080 {
		t.Errorf("installed %+v", p)
	}
	if raw := fp.Raw("httpd"); string(raw) != httpdManifest {
		t.Errorf("the registry got %q, want the body as sent", raw)
	}
	want(t, e.do("GET", "/v1/plugins", nil), 200, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "httpd" {
		t.Errorf("list = %+v", list)
	}
	var got plugins.Plugin
	want(t, e.do("GET", "/v1/plugins/httpd", nil), 200, &got)
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("get differs from install (-install +get):\n%s", diff)
	}
	want(t, e.do("POST", "/v1/plugins/httpd/disable", nil), 200, &got)
	if got.Enabled {
		t.Errorf("after disable: enabled")
	}
	want(t, e.do("POST", "/v1/plugins/httpd/enable", nil), 200, &got)
	if !got.Enabled {
		t.Errorf("after enable: disabled")
	}
	want(t, e.do("DELETE", "/v1/plugins/httpd", nil), http.StatusNoContent, nil)
	wantProblem(t, e.do("GET", "/v1/plugins/httpd", nil), http.StatusNotFound, "not installed")
}

func TestPluginErrors(t *testing.T) {
	e, fp := newPluginEnv(t)
	fp.InUse = func(name string) bool { return name == "busy" }
	want(t, e.do("POST", "/v1/plugins", rawJSON(httpdManifest)), http.StatusCreated, nil)
	want(t, e.do("POST", "/v1/plugins", rawJSON(`{"name":"busy"}`)), http.StatusCreated, nil)
	big := `{"name":"big","description":"` + strings.Repeat("x", plugins.MaxManifestSize+1) + `"}`
	tests := []struct {
		name, method, path string
		body               any
		status             int
		mention            []string
	}{
		{"already installed", "POST", "/v1/plugins", rawJSON(httpdManifest), 409, []string{"already installed"}},
		{"invalid manifest", "POST", "/v1/plugins", rawJSON(`{"name":"x","workload":{"cmd":["sh"]}}`), 400, []string{"not valid", "cmd"}},
		{"not json", "POST", "/v1/plugins", rawJSON(`{name: x}`), 400, []string{"not valid"}},
		{"missing name", "POST", "/v1/plugins", rawJSON(`{}`), 400, []string{"name"}},
		{"empty body", "POST", "/v1/plugins", nil, 400, []string{"body"}},
		{"blank body", "POST", "/v1/plugins", rawJSON(" \n"), 400, []string{"manifest"}},
		{"oversized manifest", "POST", "/v1/plugins", rawJSON(big), 413, nil},
		{"not installed", "GET", "/v1/plugins/nope", nil, 404, []string{"nope"}},
		{"enable not installed", "POST", "/v1/plugins/nope/enable", nil, 404, []string{"nope"}},
		{"disable not installed", "POST", "/v1/plugins/nope/disable", nil, 404, []string{"nope"}},
		{"remove not installed", "DELETE", "/v1/plugins/nope", nil, 404, []string{"nope"}},
		{"remove in use", "DELETE", "/v1/plugins/busy", nil, 409, []string{"delete it first"}},
		{"upper-case name", "GET", "/v1/plugins/HTTPD", nil, 422, []string{"path.name", "a-z"}},
		{"name too short", "GET", "/v1/plugins/h", nil, 422, []string{"path.name"}},
		{"name too long", "DELETE", "/v1/plugins/" + strings.Repeat("a", 33), nil, 422, []string{"path.name"}},
		{"name with underscore", "POST", "/v1/plugins/my_plugin/enable", nil, 422, []string{"path.name", "starting with a letter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(tt.method, tt.path, tt.body), tt.status, tt.mention...)
		})
	}
}

// pluginRoutes are the plugin routes, with a valid body where one is
// needed.
var pluginRoutes = []struct {
	method, path string
	body         any
}{
	{"GET", "/v1/plugins", nil},
	{"POST", "/v1/plugins", rawJSON(httpdManifest)},
	{"GET", "/v1/plugins/httpd", nil},
	{"DELETE", "/v1/plugins/httpd", nil},
	{"POST", "/v1/plugins/httpd/enable", nil},
	{"POST", "/v1/plugins/httpd/disable", nil},
	{"POST", "/v1/sandboxes/sb1/actions/httpd/hello", rawJSON(`{}`)},
}

func TestPluginsNotEnabled(t *testing.T) {
	e := newEnv(t)
	want(t, e.do("POST", "/v1/sandboxes", map[string]any{}), http.StatusCreated, nil)
	for _, r := range pluginRoutes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			wantProblem(t, e.do(r.method, r.path, r.body), http.StatusServiceUnavailable, "plugins are not enabled on this daemon")
		})
	}
}

func TestPluginRoutesNeedAToken(t *testing.T) {
	e, _ := newPluginEnv(t)
	for _, r := range pluginRoutes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			wantProblem(t, e.doAs("", r.method, r.path, r.body), http.StatusUnauthorized, "STATE_DIR/token")
		})
	}
}

func TestAction(t *testing.T) {
	e, _ := newPluginEnv(t)
	want(t, e.do("POST", "/v1/sandboxes", map[string]any{"name": "web", "runtime": "httpd"}), http.StatusCreated, nil)

	call := func(path string, body any) (*http.Response, map[string]any) {
		t.Helper()
		resp := e.do("POST", path, body)
		var got map[string]any
		want(t, resp, 200, &got)
		return resp, got
	}
	resp, got := call("/v1/sandboxes/web/actions/httpd/hello", rawJSON(`{"who": "you", "n": 12345678901234567890}`))
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	wantEcho := map[string]any{"plugin": "httpd", "action": "hello", "input": map[string]any{"who": "you", "n": 12345678901234567890.0}}
	if diff := cmp.Diff(wantEcho, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	_, got = call("/v1/sandboxes/web/actions/httpd/say_hi2", nil)
	if diff := cmp.Diff(map[string]any{}, got["input"]); diff != "" || got["action"] != "say_hi2" {
		t.Errorf("an empty body is sent as {}: %v", got)
	}

	// The answer is the workload's JSON as is: any JSON value.
	e.eng.mu.Lock()
	e.eng.action = func(plugin, action string, input json.RawMessage) (json.RawMessage, error) {
		switch action {
		case "list":
			return json.RawMessage(`[1,"two",{"three":3}]`), nil
		case "nothing":
			return nil, nil
		case "off":
			return nil, errdefs.Conflict("plugin %s is disabled: enable it with POST /v1/plugins/%s/enable", plugin, plugin)
		case "bad_input":
			return nil, errdefs.Invalid("input.who: expected a string")
		case "missing":
			return nil, errdefs.NotFound("plugin %s has no action %s: list its actions with GET /v1/plugins/%s", plugin, action, plugin)
		case "crash":
			return nil, &client.Error{Status: http.StatusInternalServerError, Message: "workload answered 500"}
		}
		return input, nil
	}
	e.eng.mu.Unlock()
	for _, tt := range []struct{ action, want string }{
		{"list", `[1,"two",{"three":3}]`},
		{"nothing", `null`},
		{"echo", `{"a":[true,null]}`},
	} {
		resp := e.do("POST", "/v1/sandboxes/web/actions/httpd/"+tt.action, rawJSON(`{"a": [true, null]}`))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != tt.want {
			t.Errorf("%s: %d %s, want 200 %s", tt.action, resp.StatusCode, body, tt.want)
		}
	}

	want(t, e.do("POST", "/v1/sandboxes", map[string]any{"name": "paused", "runtime": "httpd"}), http.StatusCreated, nil)
	want(t, e.do("POST", "/v1/sandboxes/paused/pause", nil), 200, nil)
	for _, tt := range []struct {
		name, path string
		body       any
		status     int
		mention    []string
	}{
		{"disabled plugin", "/v1/sandboxes/web/actions/httpd/off", nil, 409, []string{"enable it"}},
		{"paused sandbox", "/v1/sandboxes/paused/actions/httpd/echo", nil, 409, []string{"resume it"}},
		{"unknown sandbox", "/v1/sandboxes/nope/actions/httpd/echo", nil, 404, []string{"nope"}},
		{"unknown action", "/v1/sandboxes/web/actions/httpd/missing", nil, 404, []string{"no action"}},
		{"input against the schema", "/v1/sandboxes/web/actions/httpd/bad_input", nil, 400, []string{"input.who"}},
		{"workload failure", "/v1/sandboxes/web/actions/httpd/crash", nil, 502, []string{"workload answered 500"}},
		{"body not json", "/v1/sandboxes/web/actions/httpd/echo", rawJSON(`{"a":`), 400, []string{"not JSON"}},
		{"body too large", "/v1/sandboxes/web/actions/httpd/echo", rawJSON(`"` + strings.Repeat("x", 9<<20) + `"`), 413, nil},
		{"bad plugin name", "/v1/sandboxes/web/actions/Httpd/echo", nil, 422, []string{"path.plugin", "plugin name"}},
		{"bad action name", "/v1/sandboxes/web/actions/httpd/say-hi", nil, 422, []string{"path.action", "action name"}},
		{"action name too long", "/v1/sandboxes/web/actions/httpd/" + strings.Repeat("a", 49), nil, 422, []string{"path.action"}},
		{"bad sandbox id", "/v1/sandboxes/-x/actions/httpd/echo", nil, 422, []string{"path.id"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do("POST", tt.path, tt.body), tt.status, tt.mention...)
		})
	}
}
