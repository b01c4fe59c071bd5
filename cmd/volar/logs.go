package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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
	q := url.Values{}
	if *tail > 0 {
		q.Set("tail", strconv.Itoa(*tail))
	}
	if *follow {
		q.Set("follow", "true")
	}
	resp, err := api.do(e.ctx, request{method: http.MethodGet, path: sandboxPath(pos[0], "logs"), query: q})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(e.stdout, resp.Body); err != nil {
		if e.ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("reading the console log of %s: %w", pos[0], err)
	}
	return nil
}
