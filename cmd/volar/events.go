package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	q := url.Values{}
	for _, t := range types {
		q.Add("type", t)
	}
	if *sandbox != "" {
		q.Set("sandbox", *sandbox)
	}
	last := *since
	for {
		if last >= 0 {
			q.Set("since", strconv.FormatInt(last, 10))
		}
		err := streamEvents(e, api, q, &last)
		if e.ctx.Err() != nil {
			return nil
		}
		var ae *apiError
		if errors.As(err, &ae) {
			return err
		}
		// The server ended the stream (it does when a client falls
		// behind, or on restart): resume after the last event seen.
		if err != nil {
			fmt.Fprintf(e.stderr, "volar: event stream broken (%v); reconnecting\n", err)
		}
		select {
		case <-e.ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// streamEvents prints one JSON line per event of one SSE connection,
// keeping the sequence number of the last in *last.
func streamEvents(e *env, api *client, q url.Values, last *int64) error {
	resp, err := api.do(e.ctx, request{method: http.MethodGet, path: "/v1/events", query: q,
		header: http.Header{"Accept": {"text/event-stream"}}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				ev := strings.Join(data, "\n")
				data = data[:0]
				var head struct {
					Seq int64 `json:"seq"`
				}
				if json.Unmarshal([]byte(ev), &head) == nil && head.Seq > 0 {
					*last = head.Seq
				}
				fmt.Fprintln(e.stdout, ev)
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
		// id:, event:, retry: and comments need nothing: data carries
		// the whole event.
	}
	return sc.Err()
}
