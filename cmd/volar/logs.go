package main

import (
	"fmt"
	"io"
)

func cmdLogs(e *env, args []string) error {
	c := e.newCommand("volar logs ID [--tail N] [-f]")
	tail := c.fs.Int("tail", 0, "only the last `N` lines (default all that is kept)")
	follow := c.fs.Bool("f", false, "keep printing new output until interrupted")
	c.fs.BoolVar(follow, "follow", false, "same as -f")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := c.nargs(pos, 1, 1); err != nil {
		return err
	}
	if *tail < 0 {
		return c.fail("--tail %d: give 0 (all) or more", *tail)
	}
	api, err := e.api()
	if err != nil {
		return err
	}
	rc, err := api.Logs(e.ctx, pos[0], *tail, *follow)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(e.stdout, rc); err != nil {
		if e.ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("reading the console log of %s: %w", pos[0], err)
	}
	return nil
}
