package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// echoCGI answers with what it was asked: method, query and JSON body.
const echoCGI = `#!/bin/sh
body=$(head -c "${CONTENT_LENGTH:-0}")
echo "Content-Type: application/json"
echo
printf '{"method":"%s","query":"%s","body":%s}\n' "$REQUEST_METHOD" "$QUERY_STRING" "${body:-null}"
`

// fakePlugins serves runtimes of plugins made in the test.
type fakePlugins struct {
	runtimes map[string]*plugins.Runtime
	// asked, when set, runs when the engine asks for a runtime.
	asked func()
}

func (f *fakePlugins) Runtime(_ context.Context, name string) (*plugins.Runtime, error) {
	if f.asked != nil {
		f.asked()
	}
	rt, ok := f.runtimes[name]
	if !ok {
		return nil, errdefs.NotFound("plugin %q is not installed", name)
	}
	return rt, nil
}

func (f *fakePlugins) Action(_ context.Context, plugin, action string) (*plugins.Action, error) {
	rt, ok := f.runtimes[plugin]
	if !ok {
		return nil, errdefs.NotFound("plugin %q is not installed", plugin)
	}
	for i := range rt.Actions {
		if rt.Actions[i].Name == action {
			return &rt.Actions[i], nil
		}
	}
	return nil, errdefs.NotFound("plugin %s has no action %q", plugin, action)
}

// echoPlugin is a busybox httpd serving a CGI script, as a plugin
// runtime; command replaces the workload's command when set.
func echoPlugin(t testing.TB, command ...string) *plugins.Runtime {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if command == nil {
		command = []string{"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"}
	}
	return &plugins.Runtime{
		Plugin: "echo", Version: "1", Digest: "d1",
		Files: []plugins.File{
			{HostPath: write("healthz", "ok\n"), GuestPath: "/www/healthz", Mode: 0o644},
			{HostPath: write("echo", echoCGI), GuestPath: "/www/cgi-bin/echo", Mode: 0o755},
		},
		Workload: &plugins.Workload{Command: command, Port: 8080, Health: "/healthz", ReadyTimeoutS: 5},
		Actions: []plugins.Action{
			{Name: "say", Method: "POST", Path: "/cgi-bin/echo", Query: []string{"lang"},
				Input: json.RawMessage(`{"type":"object","properties":{"msg":{"type":"string"},"lang":{"type":"string"}},"required":["msg"]}`)},
			{Name: "missing", Method: "GET", Path: "/cgi-bin/{name}"},
		},
	}
}

func TestPluginRuntimeAndActions(t *testing.T) {
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{}}
	fp.runtimes["echo"] = echoPlugin(t)
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Plugins = fp })
	m := env.Manager
	ctx := context.Background()

	sb, err := m.Create(ctx, sandbox.Spec{Runtime: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if got := execOut(t, m, sb.ID, "cat", "/www/healthz"); got != "ok" {
		t.Fatalf("plugin file in the guest reads %q", got)
	}
	out, err := m.Action(ctx, sb.ID, "echo", "say", json.RawMessage(`{"msg":"hi","lang":"en"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Method, Query string
		Body          map[string]any
	}
	if err := json.Unmarshal(out.Body, &got); err != nil {
		t.Fatalf("answer %s: %v", out.Body, err)
	}
	if got.Method != "POST" || got.Query != "lang=en" || got.Body["msg"] != "hi" || got.Body["lang"] != nil {
		t.Fatalf("the workload was asked %+v", got)
	}

	for name, tc := range map[string]struct {
		sandbox, plugin, action, input string
		want                           error
	}{
		"input against schema": {sb.ID, "echo", "say", `{"lang":"en"}`, errdefs.ErrInvalidArgument},
		"input not an object":  {sb.ID, "echo", "say", `[1]`, errdefs.ErrInvalidArgument},
		"unknown action":       {sb.ID, "echo", "nope", `{}`, errdefs.ErrNotFound},
		"workload 404":         {sb.ID, "echo", "missing", `{"name":"x"}`, errdefs.ErrNotFound},
		"unknown sandbox":      {"sbx-nope", "echo", "say", `{"msg":"x"}`, errdefs.ErrNotFound},
	} {
		if _, err := m.Action(ctx, tc.sandbox, tc.plugin, tc.action, json.RawMessage(tc.input)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}

	plain, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Action(ctx, plain.ID, "echo", "say", json.RawMessage(`{"msg":"x"}`)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("action on a sandbox of another runtime: %v, want invalid argument", err)
	}
	if _, err := m.Create(ctx, sandbox.Spec{Runtime: "nope"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("create with an unknown runtime: %v, want invalid argument", err)
	}

	// A stopped and started sandbox gets its files and workload again.
	if _, err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Action(ctx, sb.ID, "echo", "say", json.RawMessage(`{"msg":"again"}`)); err != nil {
		t.Fatalf("action after stop and start: %v", err)
	}
}

func TestPluginWorkloadThatNeverGetsReady(t *testing.T) {
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{}}
	fp.runtimes["echo"] = echoPlugin(t, "/bin/sh", "-c", "echo broken on purpose; exit 7")
	fp.runtimes["echo"].Workload.ReadyTimeoutS = 2
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Plugins = fp })
	ctx := context.Background()
	_, err := env.Manager.Create(ctx, sandbox.Spec{Runtime: "echo"})
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("create with a broken workload: %v, want unavailable", err)
	}
	t.Logf("error: %v", err)
	page, err := env.Manager.List(ctx, sandbox.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 0 {
		t.Fatalf("a failed create left %d sandboxes", len(page.Items))
	}
}

func TestPluginTemplate(t *testing.T) {
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{}}
	fp.runtimes["echo"] = echoPlugin(t)
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Plugins, c.Templates = fp, true })
	m := env.Manager
	ctx := context.Background()
	first, err := m.Create(ctx, sandbox.Spec{Runtime: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Boot != "cold" {
		t.Fatalf("first create of a plugin runtime booted %q, want cold", first.Boot)
	}
	// The first create of a runtime makes its template in the background.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		snaps, err := m.ListSnapshots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range snaps {
			if s.Template && s.Runtime == "echo" {
				n++
			}
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no template of the plugin runtime after three minutes: %+v", snaps)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sb, err := m.Create(ctx, sandbox.Spec{Runtime: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Boot != "restore" {
		t.Fatalf("second create booted %q, want restore from the plugin's template", sb.Boot)
	}
	if _, err := m.Action(ctx, sb.ID, "echo", "say", json.RawMessage(`{"msg":"restored"}`)); err != nil {
		t.Fatalf("action in a sandbox restored from the template: %v", err)
	}
	// A new plugin version drops the old template.
	fp.runtimes["echo"] = echoPlugin(t)
	fp.runtimes["echo"].Digest = "d2"
	m.PluginsChanged(ctx)
	snaps, err := m.ListSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.Template && s.Runtime == "echo" {
			t.Fatalf("template %s of the old plugin version is still there", s.ID)
		}
	}
}

// A create counts as a use of its runtime from before it asks the
// registry for it, so a plugin cannot be disabled under it.
func TestCreateCountsAsRuntimeUse(t *testing.T) {
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{}}
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Plugins = fp })
	ctx := context.Background()
	during := -1
	fp.asked = func() { during, _ = env.Manager.RuntimeInUse(ctx, "echo") }
	if _, err := env.Manager.Create(ctx, sandbox.Spec{Runtime: "echo"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("create of a runtime not installed: %v", err)
	}
	if during != 1 {
		t.Errorf("RuntimeInUse while the create asked for the runtime = %d, want 1", during)
	}
	if n, err := env.Manager.RuntimeInUse(ctx, "echo"); err != nil || n != 0 {
		t.Errorf("RuntimeInUse after the create = %d, %v; want 0", n, err)
	}
}
