package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"time"
)

const sandboxUsage = `usage: volar sandbox COMMAND [ARGS]

Commands:
  create [flags]               create a sandbox (-q prints only its id)
  ls [--state S] [--label K=V] [--runtime R]
  get ID
  rm ID...                     delete sandboxes (alias: delete)
  start|stop|pause|resume ID
  snapshot ID                  snapshot a running or paused sandbox
  fork ID [--count N]          snapshot a sandbox and restore N clones
  egress ID [--default D] [--allow R] [--deny R] [--reset]
                               show or set where a sandbox may connect

Run 'volar sandbox COMMAND -h' for a command's flags.
`

func cmdSandbox(e *env, args []string) error {
	verbs := map[string]func(*env, []string) error{
		"create":   sandboxCreate,
		"ls":       sandboxList,
		"list":     sandboxList,
		"get":      sandboxGet,
		"inspect":  sandboxGet,
		"rm":       sandboxRemove,
		"delete":   sandboxRemove,
		"snapshot": sandboxSnapshot,
		"fork":     sandboxFork,
		"egress":   sandboxEgress,
	}
	for _, v := range []string{"start", "stop", "pause", "resume"} {
		verbs[v] = func(e *env, args []string) error { return sandboxLifecycle(e, v, args) }
	}
	return subcommand(e, "sandbox", args, verbs, sandboxUsage)
}

// createBody is the body of POST /v1/sandboxes.
type createBody struct {
	Name               string            `json:"name,omitempty"`
	Runtime            string            `json:"runtime,omitempty"`
	VCPUs              int               `json:"vcpus,omitempty"`
	MemoryMiB          int               `json:"memory_mib,omitempty"`
	DiskMiB            int               `json:"disk_mib,omitempty"`
	Network            string            `json:"network,omitempty"`
	Env                map[string]string `json:"env,omitempty"`
	Labels             map[string]string `json:"labels,omitempty"`
	TTLSeconds         int               `json:"ttl_s,omitempty"`
	IdleTimeoutSeconds int               `json:"idle_timeout_s,omitempty"`
	FromSnapshot       string            `json:"from_snapshot,omitempty"`
	ColdBoot           bool              `json:"cold_boot,omitempty"`

	// Egress and Secrets: see egress.go.
	Egress  *egressPolicy        `json:"egress,omitempty"`
	Secrets map[string]secretRef `json:"secrets,omitempty"`
}

// seconds converts a duration flag to whole seconds, rounding up.
func seconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

func sandboxCreate(e *env, args []string) error {
	c := e.newCommand("volar sandbox create [flags]")
	var b createBody
	var env, labels kvFlag
	var ttl, idle time.Duration
	c.fs.StringVar(&b.Name, "name", "", "unique name (DNS label)")
	c.fs.StringVar(&b.Runtime, "runtime", "", "runtime to run (default \"default\")")
	c.fs.IntVar(&b.VCPUs, "vcpus", 0, "virtual CPUs (default: the daemon's)")
	c.fs.IntVar(&b.MemoryMiB, "memory", 0, "guest memory in `MiB` (default: the daemon's)")
	c.fs.IntVar(&b.DiskMiB, "disk", 0, "scratch disk at /data, in `MiB` (default none)")
	c.fs.StringVar(&b.Network, "network", "", "network mode: bridge, user or none (default: the daemon's)")
	c.fs.Var(&env, "env", "environment variable `K=V` for every command (repeatable)")
	c.fs.Var(&labels, "label", "label `K=V` (repeatable)")
	c.fs.DurationVar(&ttl, "ttl", 0, "delete the sandbox this long after creation, e.g. 30m (default never)")
	c.fs.DurationVar(&idle, "idle-timeout", 0, "stop the sandbox after this long without API activity (default never)")
	c.fs.BoolVar(&b.ColdBoot, "cold-boot", false, "boot cold even when the runtime has a template snapshot")
	c.fs.StringVar(&b.FromSnapshot, "from-snapshot", "", "restore from this snapshot `ID`")
	applyEgress := createEgressFlags(c)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 0, 0); err != nil {
		return err
	}
	switch b.Network {
	case "", "bridge", "user", "none":
	default:
		return c.fail("--network %q: use bridge, user or none", b.Network)
	}
	if ttl < 0 || idle < 0 {
		return c.fail("--ttl and --idle-timeout must not be negative")
	}
	if b.ColdBoot && b.FromSnapshot != "" {
		return c.fail("--cold-boot and --from-snapshot exclude each other: pass one")
	}
	b.Env, b.Labels = env.m, labels.m
	if err := applyEgress(&b); err != nil {
		return err
	}
	b.TTLSeconds, b.IdleTimeoutSeconds = seconds(ttl), seconds(idle)

	api, err := e.api()
	if err != nil {
		return err
	}
	var sb sandboxInfo
	raw, err := api.call(e.ctx, request{method: http.MethodPost, path: "/v1/sandboxes", jsonBody: b}, &sb)
	if err != nil {
		return err
	}
	e.showSandbox(raw, sb)
	return nil
}

// listPage is one page of GET /v1/sandboxes.
type listPage struct {
	Items []json.RawMessage `json:"items"`
	Next  string            `json:"next"`
}

func sandboxList(e *env, args []string) error {
	c := e.newCommand("volar sandbox ls [--state S]... [--label K=V]... [--runtime R]")
	var states, labels listFlag
	var runtime string
	c.fs.Var(&states, "state", "only sandboxes in this `state` (repeatable): creating, running, paused, stopped, failed, deleting")
	c.fs.Var(&labels, "label", "only sandboxes with this label `K=V` (repeatable; all must match)")
	c.fs.StringVar(&runtime, "runtime", "", "only sandboxes of this runtime")
	_, api, err := c.open(e, args, 0, 0)
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, s := range states {
		q.Add("state", s)
	}
	for _, l := range labels {
		q.Add("label", l)
	}
	if runtime != "" {
		q.Set("runtime", runtime)
	}
	q.Set("limit", "1000")
	// Follow the cursor to the end: a CLI listing is the whole list.
	var items []json.RawMessage
	for {
		var page listPage
		if _, err := api.call(e.ctx, request{method: http.MethodGet, path: "/v1/sandboxes", query: q}, &page); err != nil {
			return err
		}
		items = append(items, page.Items...)
		if page.Next == "" {
			break
		}
		q.Set("cursor", page.Next)
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	if e.g.json {
		raw, err := json.Marshal(map[string]any{"items": items})
		if err != nil {
			return err
		}
		printJSON(e.stdout, raw)
		return nil
	}
	list := make([]sandboxInfo, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &list[i]); err != nil {
			return fmt.Errorf("decoding the sandbox list: %w", err)
		}
	}
	if e.g.quiet {
		for _, s := range list {
			fmt.Fprintln(e.stdout, s.ID)
		}
		return nil
	}
	printSandboxes(e.stdout, list)
	return nil
}

func sandboxGet(e *env, args []string) error {
	c := e.newCommand("volar sandbox get ID")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	var sb sandboxInfo
	raw, err := api.call(e.ctx, request{method: http.MethodGet, path: sandboxPath(pos[0])}, &sb)
	if err != nil {
		return err
	}
	e.showSandbox(raw, sb)
	return nil
}

func sandboxRemove(e *env, args []string) error {
	c := e.newCommand("volar sandbox rm ID...")
	pos, api, err := c.open(e, args, 1, -1)
	if err != nil {
		return err
	}
	return forEach(e, pos, func(id string) error {
		_, err := api.call(e.ctx, request{method: http.MethodDelete, path: sandboxPath(id)}, nil)
		return err
	})
}

// forEach calls fn for every id, printing the ids that succeed (unless
// quiet or --json) and the errors of those that fail; it fails if any did.
func forEach(e *env, ids []string, fn func(id string) error) error {
	failed := 0
	for _, id := range ids {
		if err := fn(id); err != nil {
			if e.ctx.Err() != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "volar: %s: %v\n", id, err)
			failed++
			continue
		}
		if !e.g.quiet && !e.g.json {
			fmt.Fprintln(e.stdout, id)
		}
	}
	if failed > 0 {
		return &exitError{code: 1}
	}
	return nil
}

func sandboxLifecycle(e *env, verb string, args []string) error {
	c := e.newCommand("volar sandbox " + verb + " ID")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	var sb sandboxInfo
	raw, err := api.call(e.ctx, request{method: http.MethodPost, path: sandboxPath(pos[0], verb)}, &sb)
	if err != nil {
		return err
	}
	e.show(raw, nil, func() {
		fmt.Fprintf(e.stdout, "%s %s\n", sb.ID, sb.State)
	})
	return nil
}

func sandboxSnapshot(e *env, args []string) error {
	c := e.newCommand("volar sandbox snapshot ID")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	var sn snapshotInfo
	raw, err := api.call(e.ctx, request{method: http.MethodPost, path: sandboxPath(pos[0], "snapshot")}, &sn)
	if err != nil {
		return err
	}
	e.show(raw, []string{sn.ID}, func() { printSnapshots(e.stdout, []snapshotInfo{sn}) })
	return nil
}

func sandboxFork(e *env, args []string) error {
	c := e.newCommand("volar sandbox fork ID [--count N]")
	count := c.fs.Int("count", 1, "how many clones, 1 to 64")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 1, 1); err != nil {
		return err
	}
	if *count < 1 || *count > 64 {
		return c.fail("--count %d: give 1 to 64", *count)
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	var out struct {
		Items []sandboxInfo `json:"items"`
	}
	body := map[string]int{"count": *count}
	raw, err := api.call(e.ctx, request{method: http.MethodPost, path: sandboxPath(pos[0], "fork"), jsonBody: body}, &out)
	if err != nil {
		return err
	}
	showItems(e, raw, out.Items, func(s sandboxInfo) string { return s.ID }, printSandboxes)
	return nil
}
