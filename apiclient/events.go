package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/volant-sh/volant/events"
)

// EventsOptions select the events of an EventStream.
type EventsOptions struct {
	// Replay first sends the kept events after Since; without it only
	// new events are sent.
	Replay bool
	Since  int64
	// Types keeps only events of these types ("sandbox.*" selects a
	// prefix).
	Types []string
	// SandboxID keeps only events about this sandbox.
	SandboxID string
	// OnReconnect, if set, is called each time the stream ended and is
	// about to be resumed, with why it ended (nil when the server ended
	// it cleanly, as it does when a client falls behind).
	OnReconnect func(err error)
}

// EventStream reads GET /v1/events (Server-Sent Events). When the server
// ends the stream, Next resumes it after the last event seen, with no gap
// and no duplicate while the server still keeps that event.
type EventStream struct {
	c     *Client
	opts  EventsOptions
	body  io.ReadCloser
	sc    *bufio.Scanner
	last  int64
	seen  bool
	retry time.Duration
	raw   []byte
}

// Events opens the event stream. An error of the first connection (a bad
// filter, no event log, no server) is returned here.
func (c *Client) Events(ctx context.Context, opts EventsOptions) (*EventStream, error) {
	s := &EventStream{c: c, opts: opts, last: opts.Since, seen: opts.Replay, retry: time.Second}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *EventStream) connect(ctx context.Context) error {
	q := url.Values{}
	for _, t := range s.opts.Types {
		q.Add("type", t)
	}
	if s.opts.SandboxID != "" {
		q.Set("sandbox", s.opts.SandboxID)
	}
	if s.seen {
		q.Set("since", strconv.FormatInt(s.last, 10))
	}
	resp, err := s.c.do(ctx, request{method: http.MethodGet, path: "/v1/events", query: q,
		header: http.Header{"Accept": {"text/event-stream"}}})
	if err != nil {
		return err
	}
	s.body = resp.Body
	s.sc = bufio.NewScanner(resp.Body)
	s.sc.Buffer(make([]byte, 64<<10), 16<<20)
	return nil
}

// Next returns the next event, resuming the stream when the server ends
// it. It returns ctx's error when ctx ends, and an *Error when the server
// refuses to resume.
func (s *EventStream) Next(ctx context.Context) (events.Event, error) {
	for {
		if s.sc != nil {
			data, err := s.read()
			if data != nil {
				var ev events.Event
				if err := json.Unmarshal(data, &ev); err != nil {
					return events.Event{}, fmt.Errorf("event stream: undecodable event: %w", err)
				}
				if ev.Seq > 0 {
					s.last, s.seen = ev.Seq, true
				}
				s.raw = data
				return ev, nil
			}
			s.body.Close()
			s.sc = nil
			if ctx.Err() != nil {
				return events.Event{}, ctx.Err()
			}
			if s.opts.OnReconnect != nil {
				s.opts.OnReconnect(err)
			}
		}
		select {
		case <-ctx.Done():
			return events.Event{}, ctx.Err()
		case <-time.After(s.retry):
		}
		err := s.connect(ctx)
		var ae *Error
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return events.Event{}, ctx.Err()
		case errors.As(err, &ae):
			return events.Event{}, err
		default:
			if s.opts.OnReconnect != nil {
				s.opts.OnReconnect(err)
			}
		}
	}
}

// read returns the data of the next event of the connection, or nil and
// why the connection ended (nil at a clean end).
func (s *EventStream) read() ([]byte, error) {
	var data []string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				return []byte(strings.Join(data, "\n")), nil
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case strings.HasPrefix(line, "retry:"):
			if ms, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "retry:"))); err == nil && ms > 0 {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		}
		// id: and event: repeat what data carries; comments are
		// keep-alives.
	}
	return nil, s.sc.Err()
}

// Raw returns the JSON of the last event Next returned, as the server sent
// it.
func (s *EventStream) Raw() []byte { return s.raw }

// Seq returns the sequence number of the last event seen, or the Since
// the stream was opened with.
func (s *EventStream) Seq() int64 { return s.last }

// Close ends the stream.
func (s *EventStream) Close() error {
	if s.sc == nil {
		return nil
	}
	s.sc = nil
	return s.body.Close()
}
