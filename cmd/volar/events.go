package main

import (
	"fmt"

	"github.com/volant-sh/volant/apiclient"
)

func cmdEvents(e *env, args []string) error {
	c := e.newCommand("volar events [--since SEQ] [--type T]... [--sandbox ID]")
	since := c.fs.Int64("since", -1, "replay the kept events after this sequence `number` first (0: all kept)")
	var types listFlag
	c.fs.Var(&types, "type", "only events of this `type`, e.g. sandbox.created or sandbox.* (repeatable)")
	sandbox := c.fs.String("sandbox", "", "only events about this sandbox `ID`")
	_, api, err := c.open(e, args, 0, 0)
	if err != nil {
		return err
	}
	opts := apiclient.EventsOptions{Replay: *since >= 0, Since: *since, Types: types, SandboxID: *sandbox,
		// The server ends the stream when a client falls behind, or on
		// restart; the client resumes after the last event seen.
		OnReconnect: func(err error) {
			if err != nil && e.ctx.Err() == nil {
				fmt.Fprintf(e.stderr, "volar: event stream broken (%s); reconnecting\n", e.explain(err))
			}
		}}
	s, err := api.Events(e.ctx, opts)
	if err != nil {
		if e.ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer s.Close()
	for {
		if _, err := s.Next(e.ctx); err != nil {
			if e.ctx.Err() != nil {
				return nil
			}
			return err
		}
		// One JSON line per event, as the server sent it.
		fmt.Fprintln(e.stdout, string(s.Raw()))
	}
}
