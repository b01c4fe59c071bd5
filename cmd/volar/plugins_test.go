package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/plugins/pluginstest"
	"github.com/volant-sh/volant/rest"
)

// newPluginAPI is the real API with a memory registry, and a function
// running volar against it.
func newPluginAPI(t *testing.T) (*pluginstest.Registry, func(stdin string, args ...string) (int, string, string)) {
	mp := pluginstest.New()
	srv, tok := newRealAPI(t, func(o *rest.Options) { o.Plugins = mp })
	return mp, func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(append([]string{"--addr", srv.URL, "--token", tok}, args...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
}

const testManifest = `{
  "schema_version": 1,
  "name": "httpd",
  "version": "1.0.0",
  "description": "busybox httpd with a CGI",
  "artifacts": [
    {"path": "/www/cgi-bin/hello", "source": "cgi/hello.sh", "sha256": "ab", "mode": "0755"},
    {"path": "/www/index.html", "content": "PGgxPmhpPC9oMT4="},
    {"path": "/etc/motd", "source": "/opt/motd"}
  ],
  "workload": {"command": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"], "port": 8080},
  "actions": [{"name": "hello", "method": "GET", "path": "/cgi-bin/hello", "description": "say hello"}]
}`

// sources are the artifact sources of a manifest the registry got.
func sources(t *testing.T, raw []byte) []string {
	t.Helper()
	var m plugins.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("the registry got %s: %v", raw, err)
	}
	var out []string
	for _, a := range m.Artifacts {
		out = append(out, a.Source)
	}
	return out
}

func TestPluginCommands(t *testing.T) {
	mp, v := newPluginAPI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "httpd.json")
	if err := os.WriteFile(file, []byte(testManifest), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := v("", "plugin", "install", file)
	if code != 0 || !strings.Contains(stdout, "name:") || !strings.Contains(stdout, "httpd") {
		t.Fatalf("install: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, s := range []string{"enabled:     true", "/bin/busybox httpd -f -p 8080 -h /www", "/www/index.html (inline)", "hello", "GET", "/cgi-bin/hello", "say hello"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("install output lacks %q:\n%s", s, stdout)
		}
	}
	want := []string{filepath.Join(dir, "cgi/hello.sh"), "", "/opt/motd"}
	if diff := cmp.Diff(want, sources(t, mp.Raw("httpd"))); diff != "" {
		t.Errorf("artifact sources sent (-want +got):\n%s", diff)
	}
	var sent map[string]any
	json.Unmarshal(mp.Raw("httpd"), &sent)
	if arts := sent["artifacts"].([]any); arts[0].(map[string]any)["sha256"] != "ab" || arts[1].(map[string]any)["content"] != "PGgxPmhpPC9oMT4=" {
		t.Errorf("other artifact fields changed: %v", arts)
	}

	// From stdin, relative sources are under the working directory.
	stdinManifest := strings.Replace(testManifest, `"name": "httpd"`, `"name": "httpd-two"`, 1)
	if code, stdout, stderr := v(stdinManifest, "-q", "plugin", "install", "-"); code != 0 || stdout != "httpd-two\n" {
		t.Fatalf("install -: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	wd, _ := os.Getwd()
	if got := sources(t, mp.Raw("httpd-two"))[0]; got != filepath.Join(wd, "cgi/hello.sh") {
		t.Errorf("stdin source = %q, want it under the working directory", got)
	}
	// A manifest without relative sources is sent byte for byte.
	plain := `{"name": "plain",   "version": "1"}`
	if code, _, stderr := v(plain, "-q", "plugin", "install", "-"); code != 0 || string(mp.Raw("plain")) != plain {
		t.Errorf("install plain: exit %d, stderr %q, sent %q", code, stderr, mp.Raw("plain"))
	}

	code, _, stderr = v("", "plugin", "install", file)
	if code != 1 || stderr != "volar: plugin httpd is already installed: remove it first\n" {
		t.Errorf("install twice: exit %d, stderr %q", code, stderr)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("name: httpd\n"), 0o644)
	code, _, stderr = v("", "plugin", "install", bad)
	if code != 1 || !strings.Contains(stderr, "is not a JSON manifest") {
		t.Errorf("install of YAML: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = v("", "plugin", "install", filepath.Join(dir, "missing.json"))
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("install of a missing file: exit %d, stderr %q", code, stderr)
	}

	code, stdout, _ = v("", "plugin", "ls")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 4 {
		t.Fatalf("ls: exit %d, want a header and 3 rows:\n%s", code, stdout)
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME VERSION ENABLED ACTIONS DESCRIPTION" {
		t.Errorf("header = %q", lines[0])
	}
	if got := strings.Fields(lines[1]); strings.Join(got[:4], " ") != "httpd 1.0.0 true hello" {
		t.Errorf("row = %q, want httpd 1.0.0 true hello ...", lines[1])
	}
	if code, stdout, _ := v("", "-q", "plugin", "ls"); code != 0 || stdout != "httpd\nhttpd-two\nplain\n" {
		t.Errorf("ls -q: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = v("", "plugin", "ls", "--json")
	var list struct{ Items []plugins.Plugin }
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil || len(list.Items) != 3 {
		t.Errorf("ls --json: exit %d, %v:\n%s", code, err, stdout)
	}

	if code, stdout, _ := v("", "plugin", "disable", "httpd"); code != 0 || stdout != "httpd disabled\n" {
		t.Errorf("disable: exit %d, stdout %q", code, stdout)
	}
	if code, stdout, _ := v("", "plugin", "get", "-q", "httpd"); code != 0 || stdout != "httpd\n" {
		t.Errorf("get -q: exit %d, stdout %q", code, stdout)
	}
	if code, stdout, _ := v("", "plugin", "get", "httpd"); code != 0 || !strings.Contains(stdout, "enabled:     false") {
		t.Errorf("get after disable: exit %d, stdout %q", code, stdout)
	}
	if code, stdout, _ := v("", "plugin", "enable", "httpd"); code != 0 || stdout != "httpd enabled\n" {
		t.Errorf("enable: exit %d, stdout %q", code, stdout)
	}
	code, _, stderr = v("", "plugin", "get", "nope")
	if code != 1 || stderr != "volar: plugin nope is not installed; list the installed plugins (volar plugin ls)\n" {
		t.Errorf("get nope: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = v("", "plugin", "enable", "No_Such")
	if code != 1 || !strings.Contains(stderr, "path.name") {
		t.Errorf("enable of a bad name: exit %d, stderr %q; want Huma's validation of path.name", code, stderr)
	}

	code, stdout, stderr = v("", "plugin", "rm", "httpd", "nope")
	if code != 1 || stdout != "httpd\n" || !strings.Contains(stderr, "volar: nope: plugin nope is not installed") {
		t.Errorf("rm: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := mp.Get(context.Background(), "httpd"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("rm left httpd installed: get answers %v", err)
	}
}

func TestActionCommand(t *testing.T) {
	_, v := newPluginAPI(t)
	if code, stdout, stderr := v("", "sandbox", "create", "-q"); code != 0 || stdout != "sb1\n" {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// call returns the input the engine got.
	call := func(stdin string, args ...string) map[string]any {
		t.Helper()
		code, stdout, stderr := v(stdin, append([]string{"action", "sb1", "httpd", "hello"}, args...)...)
		if code != 0 {
			t.Fatalf("action %v: exit %d, stderr %q", args, code, stderr)
		}
		var got struct {
			Plugin, Action string
			Input          map[string]any
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.Plugin != "httpd" || got.Action != "hello" {
			t.Fatalf("action %v: stdout %q (%v)", args, stdout, err)
		}
		return got.Input
	}
	tests := []struct {
		name, stdin string
		args        []string
		want        map[string]any
	}{
		{"no input", "", nil, map[string]any{}},
		{"json argument", "", []string{`{"n": 1, "who": "you"}`}, map[string]any{"n": 1.0, "who": "you"}},
		{"stdin", `{"x": [1, 2]}`, []string{"-"}, map[string]any{"x": []any{1.0, 2.0}}},
		{"empty stdin", "", []string{"-"}, map[string]any{}},
		{"args", "", []string{"--arg", "who=you", "--arg", "n=3", "--arg", "ok=true", "--arg", `obj={"a":1}`,
			"--arg", `s="5"`, "--arg", "z=null", "--arg", "e=", "--arg", "eq=a=b", "--arg", "n=4"},
			map[string]any{"who": "you", "n": 4.0, "ok": true, "obj": map[string]any{"a": 1.0}, "s": "5", "z": "null", "e": "", "eq": "a=b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, call(tt.stdin, tt.args...)); diff != "" {
				t.Errorf("input (-want +got):\n%s", diff)
			}
		})
	}

	code, stdout, _ := v("", "action", "sb1", "httpd", "hello", `{"n":1}`)
	if code != 0 || !strings.HasPrefix(stdout, "{\n  \"action\": \"hello\",\n") {
		t.Errorf("the answer is not printed pretty: exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = v("", "--json", "action", "sb1", "httpd", "hello", `{"n":1}`)
	if code != 0 || stdout != `{"action":"hello","input":{"n":1},"plugin":"httpd","sandbox":"sb1"}`+"\n" {
		t.Errorf("--json: exit %d, stdout %q; want the answer as the API sent it", code, stdout)
	}

	for _, tt := range []struct {
		name    string
		args    []string
		code    int
		mention string
	}{
		{"disabled plugin", []string{"sb1", "httpd", "off"}, 1, "volar: plugin httpd is disabled: enable it with 'volar plugin enable httpd'\n"},
		{"input rejected", []string{"sb1", "httpd", "bad", `{"n":"x"}`}, 1, "volar: input.n: expected an integer\n"},
		{"unknown sandbox", []string{"nope", "httpd", "hello"}, 1, "volar: sandbox \"nope\" not found; list sandboxes to see the ids (volar sandbox ls)\n"},
		{"bad plugin name", []string{"sb1", "HTTPD", "hello"}, 1, "path.plugin: expected string to be a plugin name"},
		{"bad action name", []string{"sb1", "httpd", "say-hi"}, 1, "path.action: expected string to be an action name"},
		{"json and args", []string{"sb1", "httpd", "hello", "{}", "--arg", "a=1"}, 2, "not both"},
		{"not json", []string{"sb1", "httpd", "hello", "{n: 1}"}, 2, "is not JSON"},
		{"bad arg", []string{"sb1", "httpd", "hello", "--arg", "novalue"}, 2, "KEY=VALUE"},
		{"too few arguments", []string{"sb1", "httpd"}, 2, "usage: volar action"},
		{"too many arguments", []string{"sb1", "httpd", "hello", "{}", "{}"}, 2, "usage: volar action"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := v("", append([]string{"action"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.mention) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, stdout, stderr, tt.code, tt.mention)
			}
		})
	}
	code, _, stderr := v("", "action", "sb1", "httpd", "hello", "-", "--arg", "a=1")
	if code != 2 || !strings.Contains(stderr, "not both") {
		t.Errorf("- and --arg: exit %d, stderr %q", code, stderr)
	}
	code, stdout, _ = v("", "action", "-h")
	if code != 0 || !strings.Contains(stdout, "--arg KEY=VALUE") {
		t.Errorf("action -h: exit %d, stdout %q", code, stdout)
	}
}

func TestPluginUsage(t *testing.T) {
	_, v := newPluginAPI(t)
	for _, args := range [][]string{{"plugin"}, {"plugin", "frob"}, {"plugin", "get"}, {"plugin", "install"}, {"plugin", "enable", "a", "b"}} {
		code, stdout, stderr := v("", args...)
		if code != 2 || !strings.Contains(stderr, "usage: volar") || stdout != "" {
			t.Errorf("volar %v: exit %d, stdout %q, stderr %q; want 2 and the usage", args, code, stdout, stderr)
		}
	}
	code, stdout, _ := v("", "help")
	if code != 0 || !strings.Contains(stdout, "plugin ls | get NAME | install FILE|-") || !strings.Contains(stdout, "action ID PLUGIN ACTION") {
		t.Errorf("help does not list the plugin commands:\n%s", stdout)
	}
}

func TestPluginInstallDir(t *testing.T) {
	mp, v := newPluginAPI(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kernel.py"), []byte("print('hi')\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(`{"schema_version":1,"name":"py","version":"1",
		"artifacts":[{"path":"/opt/kernel.py","source":"kernel.py"}]}`), 0o644)
	if code, stdout, stderr := v("", "-q", "plugin", "install", dir); code != 0 || stdout != "py\n" {
		t.Fatalf("install DIR: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var sent struct {
		Artifacts []map[string]any `json:"artifacts"`
	}
	json.Unmarshal(mp.Raw("py"), &sent)
	if a := sent.Artifacts[0]; a["content"] != "cHJpbnQoJ2hpJykK" || a["source"] != nil || len(a["sha256"].(string)) != 64 {
		t.Errorf("artifact sent = %v, want the file inline with its sha256", a)
	}
	os.Remove(filepath.Join(dir, "kernel.py"))
	if code, _, stderr := v("", "plugin", "install", dir); code != 1 || !strings.Contains(stderr, "kernel.py does not exist") {
		t.Errorf("install DIR with a missing file: exit %d, stderr %q", code, stderr)
	}
}

func TestActionBinaryAndProgress(t *testing.T) {
	_, v := newPluginAPI(t)
	if code, stdout, stderr := v("", "sandbox", "create", "-q"); code != 0 || stdout != "sb1\n" {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// Binary answers go to -o (or a non-terminal stdout); progress to stderr.
	shot := filepath.Join(t.TempDir(), "shot.png")
	if code, _, stderr := v("", "action", "-o", shot, "sb1", "web", "shot"); code != 0 || !strings.Contains(stderr, "image/png") {
		t.Errorf("action -o: exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(shot); string(b) != "\x89PNG fake" {
		t.Errorf("the file -o wrote holds %q", b)
	}
	if code, stdout, _ := v("", "action", "sb1", "web", "shot"); code != 0 || stdout != "\x89PNG fake" {
		t.Errorf("action to a pipe: exit %d, stdout %q", code, stdout)
	}
	if code, stdout, stderr := v("", "action", "--progress", "sb1", "web", "ticks"); code != 0 || stderr != "tick 1\n" || !strings.Contains(stdout, `"done"`) {
		t.Errorf("action --progress: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
