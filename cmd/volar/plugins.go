package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/plugins"
)

const pluginUsage = `usage: volar plugin COMMAND [ARGS]

Commands:
  ls                list installed plugins
  get NAME          describe a plugin: its workload, artifacts and actions
  install DIR|FILE|-
                    install (and enable) a plugin: of a plugin directory (DIR/plugin.json,
                    its relative artifact files read here and uploaded), of a manifest
                    file, or of stdin
  enable NAME       allow new sandboxes of the plugin's runtime and its actions
  disable NAME      refuse them (running sandboxes keep running)
  rm NAME...        remove plugins no sandbox uses (alias: remove)

A plugin is a runtime: create its sandboxes with 'volar sandbox create
--runtime NAME' and call its actions with 'volar action ID NAME ACTION'.
With DIR, every artifact whose "source" is a relative path is read by volar
from DIR and sent inline (its sha256 computed when the manifest has none), so
one command installs a plugin from a checkout: volar plugin install
runtimes/python. With FILE or -, relative "source" paths are sent as absolute
paths, resolved against the file's directory (the working directory for
stdin); they must be readable by volantd on its host. An image the manifest
asks for with packages is built during the install (minutes the first time);
its progress is printed to stderr.
`

func cmdPlugin(e *env, args []string) error {
	return subcommand(e, "plugin", args, map[string]func(*env, []string) error{
		"ls":      pluginList,
		"list":    pluginList,
		"get":     pluginGet,
		"inspect": pluginGet,
		"install": pluginInstall,
		"add":     pluginInstall,
		"enable":  func(e *env, args []string) error { return pluginToggle(e, "enable", args) },
		"disable": func(e *env, args []string) error { return pluginToggle(e, "disable", args) },
		"rm":      pluginRemove,
		"remove":  pluginRemove,
		"delete":  pluginRemove,
	}, pluginUsage)
}

func pluginList(e *env, args []string) error {
	return listCommand(e, args, "volar plugin ls", (*api).ListPlugins,
		func(p *plugins.Plugin) string { return p.Name }, printPlugins)
}

// printPlugins writes a table of plugins.
func printPlugins(w io.Writer, list []*plugins.Plugin) {
	t := newTable(w, "NAME", "VERSION", "ENABLED", "ACTIONS", "DESCRIPTION")
	for _, p := range list {
		names := make([]string, len(p.Actions))
		for i, a := range p.Actions {
			names[i] = a.Name
		}
		actions := "-"
		switch {
		case len(names) > 4:
			actions = strings.Join(names[:3], ",") + fmt.Sprintf(" (+%d)", len(names)-3)
		case len(names) > 0:
			actions = strings.Join(names, ",")
		}
		t.row(p.Name, orDash(p.Version), fmt.Sprint(p.Enabled), actions, orDash(clip(p.Description, 60)))
	}
	t.flush()
}

// clip shortens s to one line of at most n characters.
func clip(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-3]) + "..."
	}
	return s
}

// printPlugin writes one plugin as key: value lines and its actions.
func printPlugin(w io.Writer, p *plugins.Plugin) {
	t := newKV(w)
	t.row("name:", p.Name)
	t.row("version:", orDash(p.Version))
	t.row("enabled:", fmt.Sprint(p.Enabled))
	if p.Description != "" {
		t.row("description:", p.Description)
	}
	m := p.Manifest
	if wl := m.Workload; wl != nil {
		t.row("workload:", strings.Join(wl.Command, " "))
		if wl.Port != 0 {
			t.row("port:", fmt.Sprint(wl.Port))
		}
		if wl.Health != "" {
			t.row("health:", wl.Health)
		}
	}
	if r := m.Resources; r != nil {
		t.row("resources:", fmt.Sprintf("%d vcpus, %d MiB", r.VCPUs, r.MemoryMiB))
	}
	for i, a := range m.Artifacts {
		key := ""
		if i == 0 {
			key = "artifacts:"
		}
		from := "inline"
		if a.Source != "" {
			from = "from " + a.Source
		}
		t.row(key, fmt.Sprintf("%s (%s)", a.Path, from))
	}
	t.row("installed:", p.InstalledAt.Local().Format(time.RFC3339)+" ("+ago(p.InstalledAt)+")")
	if !p.UpdatedAt.Equal(p.InstalledAt) {
		t.row("updated:", p.UpdatedAt.Local().Format(time.RFC3339)+" ("+ago(p.UpdatedAt)+")")
	}
	if len(p.Actions) == 0 {
		t.row("actions:", "-")
		t.flush()
		return
	}
	t.flush()
	fmt.Fprintln(w, "actions:")
	at := newTable(w, "  NAME", "METHOD", "PATH", "DESCRIPTION")
	for _, a := range p.Actions {
		at.row("  "+a.Name, orDash(a.Method), a.Path, orDash(clip(a.Description, 60)))
	}
	at.flush()
}

func pluginGet(e *env, args []string) error {
	c := e.newCommand("volar plugin get NAME")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	p, err := api.GetPlugin(ctx, pos[0])
	if err != nil {
		return err
	}
	e.show(*raw, []string{p.Name}, func() { printPlugin(e.stdout, p) })
	return nil
}

func pluginInstall(e *env, args []string) error {
	c := e.newCommand("volar plugin install DIR|FILE|-")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 1, 1); err != nil {
		return err
	}
	var manifest []byte
	if st, err := os.Stat(pos[0]); err == nil && st.IsDir() {
		_, manifest, err = apiclient.PluginDirManifest(pos[0])
		if err != nil {
			return err
		}
	} else if manifest, err = readManifest(e, pos[0]); err != nil {
		return err
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	var head struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(manifest, &head)
	stop := e.followProgress(api, "plugin:"+head.Name)
	ctx, raw := e.rawContext()
	p, err := api.InstallPlugin(ctx, manifest)
	stop(err == nil)
	if err != nil {
		return err
	}
	e.show(*raw, []string{p.Name}, func() { printPlugin(e.stdout, p) })
	return nil
}

// readManifest reads a manifest from a file, or stdin for "-", and makes
// its relative artifact sources absolute.
func readManifest(e *env, name string) ([]byte, error) {
	var raw []byte
	var base string
	var err error
	if name == "-" {
		if e.stdin == nil {
			return nil, errors.New("no standard input to read the manifest from")
		}
		if raw, err = io.ReadAll(e.stdin); err != nil {
			return nil, fmt.Errorf("reading the manifest from stdin: %w", err)
		}
		name = "stdin"
		base, err = os.Getwd()
	} else {
		if raw, err = os.ReadFile(name); err != nil {
			return nil, err
		}
		base, err = filepath.Abs(filepath.Dir(name))
	}
	if err != nil {
		return nil, err
	}
	out, err := absoluteSources(raw, base)
	if err != nil {
		return nil, fmt.Errorf("%s is not a JSON manifest: %v", name, err)
	}
	return out, nil
}

// absoluteSources rewrites the relative "source" of every artifact of a
// manifest as a path under base, leaving everything else as it was. A
// manifest without relative sources is returned unchanged.
func absoluteSources(raw []byte, base string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var arts []map[string]json.RawMessage
	if err := json.Unmarshal(m["artifacts"], &arts); err != nil || arts == nil {
		// Absent, or malformed: the server says what is wrong.
		return raw, nil
	}
	changed := false
	for _, a := range arts {
		var src string
		if err := json.Unmarshal(a["source"], &src); err != nil || src == "" || filepath.IsAbs(src) {
			continue
		}
		b, err := json.Marshal(filepath.Join(base, src))
		if err != nil {
			return nil, err
		}
		a["source"] = b
		changed = true
	}
	if !changed {
		return raw, nil
	}
	b, err := json.Marshal(arts)
	if err != nil {
		return nil, err
	}
	m["artifacts"] = b
	return json.Marshal(m)
}

func pluginToggle(e *env, verb string, args []string) error {
	c := e.newCommand("volar plugin " + verb + " NAME")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	toggle := api.EnablePlugin
	if verb == "disable" {
		toggle = api.DisablePlugin
	}
	ctx, raw := e.rawContext()
	p, err := toggle(ctx, pos[0])
	if err != nil {
		return err
	}
	e.show(*raw, nil, func() {
		state := "disabled"
		if p.Enabled {
			state = "enabled"
		}
		fmt.Fprintf(e.stdout, "%s %s\n", p.Name, state)
	})
	return nil
}

func pluginRemove(e *env, args []string) error {
	c := e.newCommand("volar plugin rm NAME...")
	pos, api, err := c.open(e, args, 1, -1)
	if err != nil {
		return err
	}
	return forEach(e, pos, func(name string) error { return api.RemovePlugin(e.ctx, name) })
}
