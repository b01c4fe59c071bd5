package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/volant-sh/volant/sandbox"
)

const sandboxUsage = `usage: volar sandbox COMMAND [ARGS]

Commands:
  create [flags]               create a sandbox (-q prints only its id)
  ls [--state S] [--label K=V] [--runtime R]
  get ID
  rm ID...                     delete sandboxes (alias: delete)
  start|stop|pause|resume ID
  hibernate ID                 save to disk and end the VM; the next request wakes it
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
	for _, v := range []string{"start", "stop", "pause", "resume", "hibernate"} {
		verbs[v] = func(e *env, args []string) error { return sandboxLifecycle(e, v, args) }
	}
	return subcommand(e, "sandbox", args, verbs, sandboxUsage)
}

// seconds converts a duration flag to whole seconds, rounding up.
func seconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

func sandboxCreate(e *env, args []string) error {
	c := e.newCommand("volar sandbox create [flags]")
	var spec sandbox.Spec
	var network string
	var env, labels kvFlag
	var ttl, idle time.Duration
	c.fs.StringVar(&spec.Name, "name", "", "unique name (DNS label)")
	c.fs.StringVar(&spec.Runtime, "runtime", "", "runtime to run (default \"default\")")
	c.fs.StringVar(&spec.Image, "image", "", "run in this image's root filesystem: a `ref` such as debian or python:3.12-slim, or a digest (pulled first when not in the store)")
	c.fs.IntVar(&spec.VCPUs, "vcpus", 0, "virtual CPUs (default: the daemon's)")
	c.fs.IntVar(&spec.MemoryMiB, "memory", 0, "guest memory in `MiB` (default: the daemon's)")
	c.fs.IntVar(&spec.DiskMiB, "disk", 0, "scratch disk at /data, in `MiB` (default none)")
	c.fs.StringVar(&network, "network", "", "network mode: bridge, user or none (default: the daemon's)")
	c.fs.Var(&env, "env", "environment variable `K=V` for every command (repeatable)")
	c.fs.Var(&labels, "label", "label `K=V` (repeatable)")
	c.fs.DurationVar(&ttl, "ttl", 0, "delete the sandbox this long after creation, e.g. 30m (default never)")
	c.fs.DurationVar(&idle, "idle-timeout", 0, "stop the sandbox after this long without API activity (default never)")
	c.fs.BoolVar(&spec.ColdBoot, "cold-boot", false, "boot cold even when the runtime has a template snapshot")
	c.fs.StringVar(&spec.FromSnapshot, "from-snapshot", "", "restore from this snapshot `ID`")
	applyEgress := createEgressFlags(c)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 0, 0); err != nil {
		return err
	}
	switch network {
	case "", "bridge", "user", "none":
	default:
		return c.fail("--network %q: use bridge, user or none", network)
	}
	if ttl < 0 || idle < 0 {
		return c.fail("--ttl and --idle-timeout must not be negative")
	}
	if spec.ColdBoot && spec.FromSnapshot != "" {
		return c.fail("--cold-boot and --from-snapshot exclude each other: pass one")
	}
	spec.Network = sandbox.NetworkMode(network)
	spec.Env, spec.Labels = env.m, labels.m
	if err := applyEgress(&spec); err != nil {
		return err
	}
	spec.TTLSeconds, spec.IdleTimeoutSeconds = seconds(ttl), seconds(idle)

	api, err := e.api()
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	sb, err := api.CreateSandbox(ctx, spec)
	if err != nil {
		return err
	}
	e.showSandbox(*raw, sb)
	return nil
}

func sandboxList(e *env, args []string) error {
	c := e.newCommand("volar sandbox ls [--state S]... [--label K=V]... [--runtime R]")
	var states listFlag
	var labels kvFlag
	var runtime string
	c.fs.Var(&states, "state", "only sandboxes in this `state` (repeatable): creating, running, paused, stopped, failed, deleting, hibernated")
	c.fs.Var(&labels, "label", "only sandboxes with this label `K=V` (repeatable; all must match)")
	c.fs.StringVar(&runtime, "runtime", "", "only sandboxes of this runtime")
	_, api, err := c.open(e, args, 0, 0)
	if err != nil {
		return err
	}
	opts := sandbox.ListOptions{Runtime: runtime, Labels: labels.m, Limit: 1000}
	for _, s := range states {
		opts.States = append(opts.States, sandbox.State(s))
	}
	// Follow the cursor to the end: a CLI listing is the whole list.
	var list []*sandbox.Sandbox
	items := []json.RawMessage{}
	for {
		ctx, raw := e.rawContext()
		page, err := api.ListSandboxes(ctx, opts)
		if err != nil {
			return err
		}
		list = append(list, page.Items...)
		// --json prints the items as the API sent them.
		var rawPage struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(*raw, &rawPage); err != nil {
			return fmt.Errorf("decoding the sandbox list: %w", err)
		}
		items = append(items, rawPage.Items...)
		if page.Next == "" {
			break
		}
		opts.Cursor = page.Next
	}
	switch {
	case e.g.json:
		raw, err := json.Marshal(map[string]any{"items": items})
		if err != nil {
			return err
		}
		printJSON(e.stdout, raw)
	case e.g.quiet:
		for _, s := range list {
			fmt.Fprintln(e.stdout, s.ID)
		}
	default:
		printSandboxes(e.stdout, list)
	}
	return nil
}

func sandboxGet(e *env, args []string) error {
	c := e.newCommand("volar sandbox get ID")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	sb, err := api.GetSandbox(ctx, pos[0])
	if err != nil {
		return err
	}
	e.showSandbox(*raw, sb)
	return nil
}

func sandboxRemove(e *env, args []string) error {
	c := e.newCommand("volar sandbox rm ID...")
	pos, api, err := c.open(e, args, 1, -1)
	if err != nil {
		return err
	}
	return forEach(e, pos, func(id string) error { return api.DeleteSandbox(e.ctx, id) })
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
			fmt.Fprintf(e.stderr, "volar: %s: %s\n", id, e.explain(err))
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
	fn := map[string]func(context.Context, string) (*sandbox.Sandbox, error){
		"start": api.StartSandbox, "stop": api.StopSandbox, "pause": api.PauseSandbox, "resume": api.ResumeSandbox,
		"hibernate": api.HibernateSandbox,
	}[verb]
	ctx, raw := e.rawContext()
	sb, err := fn(ctx, pos[0])
	if err != nil {
		return err
	}
	e.show(*raw, nil, func() {
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
	ctx, raw := e.rawContext()
	sn, err := api.SnapshotSandbox(ctx, pos[0])
	if err != nil {
		return err
	}
	e.show(*raw, []string{sn.ID}, func() { printSnapshots(e.stdout, []*sandbox.Snapshot{sn}) })
	return nil
}

func sandboxFork(e *env, args []string) error {
	c := e.newCommand("volar sandbox fork ID [--count N]")
	count := c.fs.Int("count", 1, fmt.Sprintf("how many clones, 1 to %d", sandbox.MaxForkCount))
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 1, 1); err != nil {
		return err
	}
	if *count < 1 || *count > sandbox.MaxForkCount {
		return c.fail("--count %d: give 1 to %d", *count, sandbox.MaxForkCount)
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	clones, err := api.ForkSandbox(ctx, pos[0], *count)
	if err != nil {
		return err
	}
	showItems(e, *raw, clones, func(s *sandbox.Sandbox) string { return s.ID }, printSandboxes)
	return nil
}
