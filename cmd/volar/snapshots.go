package main

import (
	"fmt"
	"time"

	"github.com/volant-sh/volant/sandbox"
)

const snapshotUsage = `usage: volar snapshot COMMAND [ARGS]

Commands:
  ls          list snapshots
  get ID      describe a snapshot
  rm ID...    delete snapshots nothing depends on

Take a snapshot with 'volar sandbox snapshot ID'; create sandboxes from it
with 'volar sandbox create --from-snapshot ID'.
`

func cmdSnapshot(e *env, args []string) error {
	return subcommand(e, "snapshot", args, map[string]func(*env, []string) error{
		"ls":     snapshotList,
		"list":   snapshotList,
		"get":    snapshotGet,
		"rm":     snapshotRemove,
		"delete": snapshotRemove,
	}, snapshotUsage)
}

func snapshotList(e *env, args []string) error {
	return listCommand(e, args, "volar snapshot ls", (*api).ListSnapshots,
		func(s *sandbox.Snapshot) string { return s.ID }, printSnapshots)
}

func snapshotGet(e *env, args []string) error {
	c := e.newCommand("volar snapshot get ID")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	ctx, raw := e.rawContext()
	s, err := api.GetSnapshot(ctx, pos[0])
	if err != nil {
		return err
	}
	e.show(*raw, []string{s.ID}, func() {
		t := newKV(e.stdout)
		t.row("id:", s.ID)
		t.row("sandbox:", orDash(s.SandboxID))
		t.row("parent:", orDash(s.ParentID))
		t.row("runtime:", s.Runtime)
		t.row("template:", fmt.Sprint(s.Template))
		t.row("size:", humanBytes(s.SizeBytes))
		t.row("created:", s.CreatedAt.Local().Format(time.RFC3339)+" ("+ago(s.CreatedAt)+")")
		t.row("used by:", fmt.Sprintf("%d sandboxes, %d snapshots", s.Sandboxes, s.Children))
		t.flush()
	})
	return nil
}

func snapshotRemove(e *env, args []string) error {
	c := e.newCommand("volar snapshot rm ID...")
	pos, api, err := c.open(e, args, 1, -1)
	if err != nil {
		return err
	}
	return forEach(e, pos, func(id string) error { return api.DeleteSnapshot(e.ctx, id) })
}
