package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Options configures a Bus. The zero value of each field means its default.
type Options struct {
	// Retain is how many of the newest events the log keeps (default 100000).
	Retain int
	// TrimEvery is how many publishes pass between trims (default 1000).
	TrimEvery int
	// Buffer is how many live events a subscriber may fall behind before it
	// is dropped (default 1024).
	Buffer int
	// Logger receives trim and replay errors (default: discarded).
	Logger *slog.Logger
}

// Validate reports whether the options make sense.
func (o *Options) Validate() error {
	if o.Retain < 0 || o.TrimEvery < 0 || o.Buffer < 0 {
		return errdefs.Invalid("event bus options must not be negative: retain %d, trim every %d, buffer %d", o.Retain, o.TrimEvery, o.Buffer)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Retain == 0 {
		o.Retain = 100_000
	}
	if o.TrimEvery == 0 {
		o.TrimEvery = 1000
	}
	if o.Buffer == 0 {
		o.Buffer = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// replayBatch is how many events a subscriber reads from the log at a time.
const replayBatch = 512

// Filter selects events for a subscriber. Empty fields select everything.
type Filter struct {
	// Types keeps events of these types; "sandbox.*" keeps every type
	// starting with "sandbox.".
	Types []string
	// SandboxID keeps events about this sandbox.
	SandboxID string
}

// Match reports whether f selects e.
func (f Filter) Match(e Event) bool {
	if f.SandboxID != "" && e.SandboxID != f.SandboxID {
		return false
	}
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if t == e.Type {
			return true
		}
		if p, ok := strings.CutSuffix(t, "*"); ok && strings.HasPrefix(e.Type, p) {
			return true
		}
	}
	return false
}

// Bus appends events to a Log and fans them out to subscribers.
type Bus struct {
	log  Log
	opts Options

	ctx    context.Context // canceled by Close; stops every goroutine
	cancel context.CancelFunc
	wg     sync.WaitGroup
	trimCh chan struct{}

	closeOnce sync.Once

	// pubMu makes append and fan-out one step, so subscribers get events
	// in sequence order.
	pubMu     sync.Mutex
	sinceTrim int

	mu     sync.Mutex
	last   int64 // the newest sequence number handed to subscribers
	subs   map[*subscriber]struct{}
	closed bool
}

// subscriber is one live subscription.
type subscriber struct {
	filter Filter
	live   chan Event // closed when the subscriber leaves subs
}

// New returns a Bus over log and starts its trimmer. opts may be nil.
// Close stops it.
func New(ctx context.Context, log Log, opts *Options) (*Bus, error) {
	var o Options
	if opts != nil {
		if err := opts.Validate(); err != nil {
			return nil, err
		}
		o = *opts
	}
	o = o.withDefaults()
	last, err := log.LastEventSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting event bus: %w", err)
	}
	b := &Bus{
		log:    log,
		opts:   o,
		trimCh: make(chan struct{}, 1),
		last:   last,
		subs:   make(map[*subscriber]struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.trimCh <- struct{}{} // trim once at start
	b.wg.Go(b.trimmer)
	return b, nil
}

// Publish appends e to the log, giving it the next sequence number and the
// current time, hands it to the subscribers whose filter matches, and
// returns it as stored. It never waits for a subscriber.
func (b *Bus) Publish(ctx context.Context, e Event) (Event, error) {
	if e.Type == "" {
		return Event{}, errdefs.Invalid("event type is empty")
	}
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return Event{}, errdefs.Invalid("data of %s event is not valid JSON", e.Type)
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.isClosed() {
		return Event{}, errdefs.Unavailable("event bus is closed")
	}
	e.Time = time.Unix(0, time.Now().UnixNano()).UTC()
	seq, err := b.log.AppendEvent(ctx, e)
	if err != nil {
		return Event{}, fmt.Errorf("publishing %s event: %w", e.Type, err)
	}
	e.Seq = seq

	b.mu.Lock()
	b.last = seq
	for s := range b.subs {
		if !s.filter.Match(e) {
			continue
		}
		select {
		case s.live <- e:
		default:
			// Too far behind: drop it rather than wait. It resumes
			// from the last sequence number it got.
			b.removeLocked(s)
		}
	}
	b.mu.Unlock()

	b.sinceTrim++
	if b.sinceTrim >= b.opts.TrimEvery {
		b.sinceTrim = 0
		select {
		case b.trimCh <- struct{}{}:
		default:
		}
	}
	return e, nil
}

// Trim deletes all but the newest Retain events now. The Bus also trims on
// its own every TrimEvery publishes.
func (b *Bus) Trim(ctx context.Context) error {
	if _, err := b.log.TrimEvents(ctx, b.opts.Retain); err != nil {
		return fmt.Errorf("trimming event log: %w", err)
	}
	return nil
}

func (b *Bus) trimmer() {
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.trimCh:
			if err := b.Trim(b.ctx); err != nil && b.ctx.Err() == nil {
				b.opts.Logger.Warn("trimming event log", "err", err)
			}
		}
	}
}

// Close stops the trimmer, closes every subscriber's channel and waits for
// the Bus's goroutines to finish. Publish fails afterwards. It does not
// close the Log. It is safe to call more than once.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		for s := range b.subs {
			b.removeLocked(s)
		}
		b.mu.Unlock()
		b.cancel()
	})
	b.wg.Wait()
	return nil
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// removeLocked takes s out of the fan-out and closes its live channel.
func (b *Bus) removeLocked(s *subscriber) {
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.live)
	}
}
