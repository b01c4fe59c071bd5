package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/sandbox"
)

// EventSource is the event log GET /v1/events streams. *events.Bus
// implements it.
type EventSource interface {
	Subscribe(ctx context.Context, fromSeq int64, filter events.Filter) (<-chan events.Event, func())
}

// keepAliveEvery is how often an idle event stream sends a comment, so
// that proxies keep it open.
const keepAliveEvery = 15 * time.Second

var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.([a-z][a-z0-9_]*|\*))*$`)

func (s *server) eventRoutes() {
	s.mux.HandleFunc("GET /v1/events", s.serveEvents)
	s.document(op(http.MethodGet, "/v1/events", "events", "events",
		"Stream events (Server-Sent Events)",
		"A text/event-stream of the engine's events. Each event has `id:` its sequence number, `event:` its type "+
			"(sandbox.created, sandbox.running, exec.finished, snapshot.created, ...) and `data:` the event as JSON "+
			"({seq, time, type, sandbox_id, data}). Without since or Last-Event-ID only new events are sent; "+
			"with them, the stream first replays the kept events after that sequence number, with no gap and no duplicate. "+
			"The server may end the stream (for example when the client falls behind); reconnect with Last-Event-ID "+
			"(EventSource does this itself). Comments (`: keep-alive`) are sent when idle. Browsers pass the token as ?access_token=.",
		http.StatusBadRequest, http.StatusServiceUnavailable),
		nil, textResponse("The event stream.", "text/event-stream"),
		queryParam("since", "integer", "Replay events with a sequence number above this; Last-Event-ID takes precedence."),
		queryParamArray("type", "Only events of these types (repeat the parameter); \"sandbox.*\" selects a prefix."),
		queryParam("sandbox", "string", "Only events about this sandbox id."))
}

func queryParamArray(name, desc string) *huma.Param {
	p := queryParam(name, "array", desc)
	p.Schema.Items = &huma.Schema{Type: "string", MaxLength: ptr(128)}
	p.Explode = ptr(true)
	return p
}

func (s *server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if s.events == nil {
		writeProblem(w, http.StatusServiceUnavailable, "this server has no event log; events are not available")
		return
	}
	q := r.URL.Query()
	from := int64(-1)
	for _, src := range []struct{ name, v string }{{"since", q.Get("since")}, {"Last-Event-ID", r.Header.Get("Last-Event-ID")}} {
		if src.v == "" {
			continue
		}
		n, err := strconv.ParseInt(src.v, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, "events", errdefs.Invalid("%s %q: must be a sequence number (0 or more)", src.name, truncate(src.v, 40)))
			return
		}
		from = n
	}
	var f events.Filter
	for _, t := range q["type"] {
		if len(t) > 128 || !eventTypeRE.MatchString(t) {
			s.writeError(w, r, "events", errdefs.Invalid("type %q: use an event type such as sandbox.created, or a prefix such as sandbox.*", truncate(t, 40)))
			return
		}
		f.Types = append(f.Types, t)
	}
	if len(f.Types) > 64 {
		s.writeError(w, r, "events", errdefs.Invalid("type: at most 64 types"))
		return
	}
	if id := q.Get("sandbox"); id != "" {
		if err := sandbox.ValidateID("sandbox", id); err != nil {
			s.writeError(w, r, "events", err)
			return
		}
		f.SandboxID = id
	}

	ch, stop := s.events.Subscribe(r.Context(), from, f)
	defer stop()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(keepAliveEvery)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e, ok := <-ch:
			if !ok {
				return
			}
			data, err := json.Marshal(e)
			if err != nil {
				s.log.Error("encoding event", "seq", e.Seq, "err", err)
				continue
			}
			// JSON has no raw newlines, so data fits one data: line.
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, data)
		}
		if rc.Flush() != nil {
			return
		}
	}
}
