package plugins

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/volant-sh/volant/events"
)

// Subscribe registers fn to be called after every successful install,
// enable, disable and remove (not after a no-op such as disabling a
// disabled plugin). fn runs in the goroutine that made the change, with
// no registry lock held, so it may call the registry; it should return
// quickly. cancel unregisters it and is safe to call more than once.
func (r *Registry) Subscribe(fn func()) (cancel func()) {
	r.subMu.Lock()
	id := r.nextSub
	r.nextSub++
	r.subs[id] = fn
	r.subMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.subMu.Lock()
			delete(r.subs, id)
			r.subMu.Unlock()
		})
	}
}

// notify calls the subscribers. No lock may be held.
func (r *Registry) notify() {
	r.subMu.Lock()
	fns := make([]func(), 0, len(r.subs))
	for _, fn := range r.subs {
		fns = append(fns, fn)
	}
	r.subMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// pluginEvent is the data of plugin events.
type pluginEvent struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// publish records an event; failures are logged, never returned, since
// the change it reports is already made.
func (r *Registry) publish(ctx context.Context, typ string, e *entry) {
	if r.cfg.Events == nil {
		return
	}
	data, _ := json.Marshal(pluginEvent{Name: e.rec.Name, Version: e.rec.Version, Digest: e.digest})
	if _, err := r.cfg.Events.Publish(context.WithoutCancel(ctx), events.Event{Type: typ, Data: data}); err != nil {
		r.log.Warn("publishing event", "type", typ, "plugin", e.rec.Name, "err", err)
	}
}

// EventImageProgress is the event kind of an image's progress, the same
// as the image resource's pulls publish; a plugin's image build reports
// under the ref "plugin:<name>", with phase "build" (one line of the
// builder's output in line), then "done" or "failed".
const EventImageProgress = "image.progress"

// buildProgress is the data of the image.progress events of a build.
type buildProgress struct {
	Phase string `json:"phase"`
	Ref   string `json:"ref"`
	Line  string `json:"line,omitempty"`
}

// publishProgress records one progress report of an image build.
func (r *Registry) publishProgress(ctx context.Context, ref, phase, line string) {
	if r.cfg.Events == nil {
		return
	}
	data, _ := json.Marshal(buildProgress{Phase: phase, Ref: ref, Line: line})
	if _, err := r.cfg.Events.Publish(context.WithoutCancel(ctx), events.Event{Type: EventImageProgress, Data: data}); err != nil {
		r.log.Warn("publishing event", "type", EventImageProgress, "ref", ref, "err", err)
	}
}
