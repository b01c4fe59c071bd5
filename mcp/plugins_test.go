package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
)

// fakePlugins is a registry in a map. Like the real one, it calls its
// subscribers synchronously after every change.
type fakePlugins struct {
	mu      sync.Mutex
	plugins map[string]*plugins.Plugin
	next    int
	subs    map[int]func()
}

func newFakePlugins(ps ...*plugins.Plugin) *fakePlugins {
	f := &fakePlugins{plugins: map[string]*plugins.Plugin{}, subs: map[int]func(){}}
	for _, p := range ps {
		f.plugins[p.Name] = p
	}
	return f
}

func (f *fakePlugins) List(context.Context) ([]*plugins.Plugin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*plugins.Plugin
	for _, p := range f.plugins {
		c := *p
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakePlugins) Get(_ context.Context, name string) (*plugins.Plugin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.plugins[name]
	if !ok {
		return nil, errdefs.NotFound("plugin %s not found", name)
	}
	c := *p
	return &c, nil
}

func (f *fakePlugins) Subscribe(fn func()) (cancel func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := f.next
	f.subs[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

// change applies fn to the registry and then tells the subscribers, with
// no lock held, as the real registry does.
func (f *fakePlugins) change(fn func(map[string]*plugins.Plugin)) {
	f.mu.Lock()
	fn(f.plugins)
	subs := make([]func(), 0, len(f.subs))
	for _, sub := range f.subs {
		subs = append(subs, sub)
	}
	f.mu.Unlock()
	for _, sub := range subs {
		sub()
	}
}

func (f *fakePlugins) setEnabled(name string, on bool) {
	f.change(func(m map[string]*plugins.Plugin) {
		c := *m[name]
		c.Enabled = on
		m[name] = &c
	})
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

const fetchInput = `{"type":"object","properties":{"url":{"type":"string","description":"page to fetch"}},"required":["url"],"additionalProperties":false}`

func testPlugins() []*plugins.Plugin {
	web := plugins.Manifest{SchemaVersion: 1, Name: "web-tools", Version: "1.2.0", Description: "Browse the web",
		OpenAPI: json.RawMessage(`{"openapi":"3.1.0","paths":{"/run":{"post":{"operationId":"run"}}}}`)}
	webActions := []plugins.Action{
		{Name: "fetch_page", Description: "Fetch a page.", Method: "GET", Path: "/page", Input: json.RawMessage(fetchInput), Source: "manifest"},
		{Name: "run", Method: "POST", Path: "/run", Source: "openapi"},
	}
	web.Actions = webActions[:1]
	sb := plugins.Manifest{SchemaVersion: 1, Name: "sandbox", Version: "0.1"}
	sbActions := []plugins.Action{
		{Name: "create", Description: "Not the built-in.", Path: "/create"},
		{Name: "ping", Description: "Ping.", Method: "DELETE", Path: "/ping"},
	}
	off := plugins.Manifest{SchemaVersion: 1, Name: "off", Version: "1"}
	offActions := []plugins.Action{{Name: "x", Path: "/x"}}
	return []*plugins.Plugin{
		{Name: "web-tools", Version: "1.2.0", Description: "Browse the web", Enabled: true, Manifest: web, Actions: webActions},
		{Name: "sandbox", Version: "0.1", Enabled: true, Manifest: sb, Actions: sbActions},
		{Name: "off", Version: "1", Enabled: false, Manifest: off, Actions: offActions},
	}
}

// actionCall is one call of the engine's Action.
type actionCall struct {
	ID, Plugin, Action, Input string
}

// pluginServer connects a client to a server with reg as its registry.
// The client's tools/list_changed and resources/list_changed
// notifications arrive on toolsChanged and resChanged; every action
// answers answer, and calls returns the engine's Action calls so far.
func pluginServer(t *testing.T, reg Plugins, answer string) (cs *sdk.ClientSession, toolsChanged, resChanged chan struct{}, calls func() []actionCall, logs *syncBuffer) {
	t.Helper()
	eng := newFakeEngine(t)
	var mu sync.Mutex
	var got []actionCall
	eng.OnAction = func(_ context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, actionCall{id, plugin, action, string(input)})
		return json.RawMessage(answer), nil
	}
	toolsChanged = make(chan struct{}, 64)
	resChanged = make(chan struct{}, 64)
	logs = &syncBuffer{}
	_, cs = connectOpts(t, Options{Manager: eng, Plugins: reg, Version: "test", Logger: slog.New(slog.NewTextHandler(logs, nil))},
		&sdk.ClientOptions{
			ToolListChangedHandler:     func(context.Context, *sdk.ToolListChangedRequest) { toolsChanged <- struct{}{} },
			ResourceListChangedHandler: func(context.Context, *sdk.ResourceListChangedRequest) { resChanged <- struct{}{} },
		})
	calls = func() []actionCall {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	return cs, toolsChanged, resChanged, calls, logs
}

func listTools(t *testing.T, cs *sdk.ClientSession) map[string]*sdk.Tool {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tools := map[string]*sdk.Tool{}
	for _, tool := range res.Tools {
		tools[tool.Name] = tool
	}
	return tools
}

// awaitTools waits for a tools/list_changed notification, then until
// the tool list satisfies cond (one change may come as several
// notifications).
func awaitTools(t *testing.T, cs *sdk.ClientSession, changed <-chan struct{}, cond func(map[string]*sdk.Tool) bool) {
	t.Helper()
	<-changed
	for !cond(listTools(t, cs)) {
		<-changed
	}
}

func schemaOf(t *testing.T, tool *sdk.Tool) map[string]any {
	t.Helper()
	data, err := json.Marshal(tool.InputSchema)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPluginTools(t *testing.T) {
	ps := testPlugins()
	reg := newFakePlugins(ps...)
	cs, changed, _, calls, logs := pluginServer(t, reg, `{"status":200,"title":"Example"}`)

	tools := listTools(t, cs)
	for _, name := range []string{"web_tools_fetch_page", "web_tools_run", "sandbox_ping"} {
		if tools[name] == nil {
			t.Errorf("no tool %s", name)
		}
	}
	if tools["off_x"] != nil {
		t.Errorf("tool off_x of a disabled plugin is served")
	}

	t.Run("shadowing refused", func(t *testing.T) {
		if d := tools["sandbox_create"].Description; strings.Contains(d, "plugin") {
			t.Errorf("sandbox_create description = %q: a plugin replaced the built-in tool", d)
		}
		if l := logs.String(); !strings.Contains(l, "tool=sandbox_create") || !strings.Contains(l, "built-in") {
			t.Errorf("logs %q: want a warning naming sandbox_create", l)
		}
		id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
		if !strings.HasPrefix(id, "sbx-") {
			t.Errorf("sandbox_create = %q, want the built-in's sandbox", id)
		}
	})

	t.Run("descriptions and hints", func(t *testing.T) {
		fetch, run, ping := tools["web_tools_fetch_page"], tools["web_tools_run"], tools["sandbox_ping"]
		if want := "Fetch a page. (plugin web-tools 1.2.0)"; fetch.Description != want {
			t.Errorf("description = %q, want %q", fetch.Description, want)
		}
		if !strings.Contains(run.Description, "POST /run") || !strings.HasSuffix(run.Description, "(plugin web-tools 1.2.0)") {
			t.Errorf("description of an undescribed action = %q", run.Description)
		}
		if a := fetch.Annotations; a == nil || !a.ReadOnlyHint {
			t.Errorf("GET action annotations = %+v, want read-only", a)
		}
		if a := run.Annotations; a == nil || a.ReadOnlyHint || a.DestructiveHint == nil || !*a.DestructiveHint {
			t.Errorf("POST action annotations = %+v, want not read-only, destructive", a)
		}
		if a := ping.Annotations; a == nil || !a.IdempotentHint {
			t.Errorf("DELETE action annotations = %+v, want idempotent", a)
		}
	})

	t.Run("schemas", func(t *testing.T) {
		fetch := schemaOf(t, tools["web_tools_fetch_page"])
		if diff := cmp.Diff([]any{"sandbox_id", "url"}, fetch["required"]); diff != "" {
			t.Errorf("required (-want +got):\n%s", diff)
		}
		props := fetch["properties"].(map[string]any)
		if props["url"].(map[string]any)["description"] != "page to fetch" {
			t.Errorf("url property = %v, want the action's", props["url"])
		}
		if props["sandbox_id"].(map[string]any)["type"] != "string" || fetch["additionalProperties"] != false {
			t.Errorf("schema = %v, want a string sandbox_id and the action's other keywords", fetch)
		}
		run := schemaOf(t, tools["web_tools_run"])
		if diff := cmp.Diff([]any{"sandbox_id"}, run["required"]); diff != "" || run["type"] != "object" {
			t.Errorf("schema without an action schema = %v, want an open object requiring sandbox_id", run)
		}
		if got := string(ps[0].Actions[0].Input); got != fetchInput {
			t.Errorf("the action's schema was changed: %s", got)
		}
	})

	t.Run("calls proxy", func(t *testing.T) {
		id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
		got := ok[map[string]any](t, cs, "web_tools_fetch_page", map[string]any{"sandbox_id": id, "url": "http://example.com"})
		if diff := cmp.Diff(map[string]any{"status": float64(200), "title": "Example"}, got); diff != "" {
			t.Errorf("structured content (-want +got):\n%s", diff)
		}
		res := call(t, cs, "web_tools_run", map[string]any{"sandbox_id": id, "n": 1, "args": []string{"a"}})
		if txt := resultText(res); txt != `{"status":200,"title":"Example"}` {
			t.Errorf("text = %q, want the answer's JSON", txt)
		}
		want := []actionCall{
			{id, "web-tools", "fetch_page", `{"url":"http://example.com"}`},
			{id, "web-tools", "run", `{"args":["a"],"n":1}`},
		}
		if diff := cmp.Diff(want, calls()[len(calls())-2:]); diff != "" {
			t.Errorf("engine calls (-want +got):\n%s", diff)
		}
	})

	t.Run("errors", func(t *testing.T) {
		n := len(calls())
		for _, tc := range []struct {
			name string
			args map[string]any
			want []string
		}{
			{"no sandbox_id", map[string]any{"n": 1}, []string{"sandbox id is missing", "sandbox_list"}},
			{"sandbox_id not a string", map[string]any{"sandbox_id": 7}, []string{"sandbox_id: want a string"}},
			{"unknown sandbox", map[string]any{"sandbox_id": "sbx-nope"}, []string{`"sbx-nope" not found`, "sandbox_list"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := call(t, cs, "web_tools_run", tc.args)
				if !res.IsError {
					t.Fatalf("result %q, want an error", resultText(res))
				}
				for _, w := range tc.want {
					if !strings.Contains(resultText(res), w) {
						t.Errorf("error %q does not contain %q", resultText(res), w)
					}
				}
			})
		}
		if got := len(calls()); got != n {
			t.Errorf("%d invalid calls reached the workload", got-n)
		}
	})

	t.Run("disable and enable", func(t *testing.T) {
		reg.setEnabled("web-tools", false)
		awaitTools(t, cs, changed, func(m map[string]*sdk.Tool) bool {
			return m["web_tools_fetch_page"] == nil && m["web_tools_run"] == nil
		})
		if tools := listTools(t, cs); tools["sandbox_ping"] == nil || tools["sandbox_list"] == nil {
			t.Errorf("disabling web-tools removed other tools")
		}
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "web_tools_run", Arguments: map[string]any{"sandbox_id": "x"}})
		if err == nil && !res.IsError {
			t.Errorf("calling a disabled plugin's tool succeeded")
		}
		reg.setEnabled("web-tools", true)
		awaitTools(t, cs, changed, func(m map[string]*sdk.Tool) bool {
			return m["web_tools_fetch_page"] != nil && m["web_tools_run"] != nil
		})
	})

	t.Run("changed action replaces its tool", func(t *testing.T) {
		reg.change(func(m map[string]*plugins.Plugin) {
			c := *m["sandbox"]
			c.Version = "0.2"
			c.Actions = []plugins.Action{{Name: "ping", Description: "Ping again.", Method: "GET", Path: "/ping"}}
			m["sandbox"] = &c
		})
		awaitTools(t, cs, changed, func(m map[string]*sdk.Tool) bool {
			return m["sandbox_ping"] != nil && m["sandbox_ping"].Description == "Ping again. (plugin sandbox 0.2)"
		})
	})

	t.Run("removed", func(t *testing.T) {
		reg.change(func(m map[string]*plugins.Plugin) { delete(m, "web-tools") })
		awaitTools(t, cs, changed, func(m map[string]*sdk.Tool) bool { return m["web_tools_run"] == nil })
	})
}

func TestPluginList(t *testing.T) {
	cs, _, _, _, _ := pluginServer(t, newFakePlugins(testPlugins()...), `{}`)
	got := ok[PluginListOutput](t, cs, "plugin_list", nil)
	want := PluginListOutput{Plugins: []PluginInfo{
		{Name: "off", Version: "1", Tools: []string{}},
		{Name: "sandbox", Version: "0.1", Enabled: true, Tools: []string{"sandbox_ping"}},
		{Name: "web-tools", Version: "1.2.0", Description: "Browse the web", Enabled: true, Tools: []string{"web_tools_fetch_page", "web_tools_run"}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plugin_list (-want +got):\n%s", diff)
	}
}

func TestPluginResources(t *testing.T) {
	reg := newFakePlugins(testPlugins()...)
	cs, _, resChanged, _, _ := pluginServer(t, reg, `{}`)
	ctx := context.Background()

	uris := func() []string {
		t.Helper()
		res, err := cs.ListResources(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range res.Resources {
			if strings.HasPrefix(r.URI, "volant://plugins/") {
				out = append(out, r.URI)
			}
		}
		slices.Sort(out)
		return out
	}
	want := []string{"volant://plugins/off/manifest", "volant://plugins/sandbox/manifest",
		"volant://plugins/web-tools/manifest", "volant://plugins/web-tools/openapi"}
	if diff := cmp.Diff(want, uris()); diff != "" {
		t.Errorf("plugin resources (-want +got):\n%s", diff)
	}
	tmpls, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tnames []string
	for _, tm := range tmpls.ResourceTemplates {
		tnames = append(tnames, tm.URITemplate)
	}
	for _, w := range []string{"volant://plugins/{name}/manifest", "volant://plugins/{name}/openapi"} {
		if !slices.Contains(tnames, w) {
			t.Errorf("templates %q: no %s", tnames, w)
		}
	}

	read := func(uri string) (string, error) {
		r, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
		if err != nil {
			return "", err
		}
		if r.Contents[0].MIMEType != "application/json" {
			t.Errorf("%s: MIME type %q", uri, r.Contents[0].MIMEType)
		}
		return r.Contents[0].Text, nil
	}
	text, err := read("volant://plugins/web-tools/manifest")
	var m plugins.Manifest
	if err != nil || json.Unmarshal([]byte(text), &m) != nil || m.Name != "web-tools" || len(m.Actions) != 1 {
		t.Errorf("manifest = %s, %v; want web-tools's manifest", text, err)
	}
	if text, err := read("volant://plugins/web-tools/openapi"); err != nil || !strings.Contains(text, `"operationId": "run"`) {
		t.Errorf("openapi = %s, %v", text, err)
	}
	for _, uri := range []string{"volant://plugins/sandbox/openapi", "volant://plugins/nope/manifest", "volant://plugins/a/b/manifest"} {
		if _, err := read(uri); err == nil {
			t.Errorf("read %s: no error", uri)
		}
	}

	// Installing a plugin announces its resources.
	reg.change(func(m map[string]*plugins.Plugin) {
		m["new"] = &plugins.Plugin{Name: "new", Version: "1", Manifest: plugins.Manifest{Name: "new", Version: "1"}}
	})
	<-resChanged
	for !slices.Contains(uris(), "volant://plugins/new/manifest") {
		<-resChanged
	}
}

func TestToolName(t *testing.T) {
	for _, tc := range []struct{ plugin, action, want string }{
		{"web-tools", "fetch_page", "web_tools_fetch_page"},
		{"py", "pets.list", "py_pets_list"},
		{"py", "Get-Pet/é", "py_Get_Pet__"},
		{"p", strings.Repeat("a", 200), "p_" + strings.Repeat("a", 126)},
	} {
		if got := toolName(tc.plugin, tc.action); got != tc.want {
			t.Errorf("toolName(%q, %q) = %q, want %q", tc.plugin, tc.action, got, tc.want)
		}
	}
}

func TestActionInputSchema(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // required, as JSON; empty when an error is wanted
	}{
		{"absent", ``, `["sandbox_id"]`},
		{"null", `null`, `["sandbox_id"]`},
		{"no type", `{"properties":{"a":{}}}`, `["sandbox_id"]`},
		{"required kept", `{"type":"object","required":["a","b"]}`, `["sandbox_id","a","b"]`},
		{"not an object", `{"type":"string"}`, ""},
		{"own sandbox_id", `{"type":"object","properties":{"sandbox_id":{"type":"integer"}}}`, ""},
		{"bad required", `{"type":"object","required":"a"}`, ""},
		{"array", `[1]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := actionInputSchema("p", json.RawMessage(tc.in))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("schema %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			req, _ := json.Marshal(got["required"])
			if string(req) != tc.want || got["type"] != "object" {
				t.Errorf("schema %v, want type object and required %s", got, tc.want)
			}
		})
	}
}
