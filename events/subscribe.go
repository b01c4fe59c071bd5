package events

import (
	"context"
)

// Subscribe returns a channel of the events matching filter with a sequence
// number above fromSeq: first those already in the log, then live ones as
// they are published, in order, with no gap and no duplicate. A negative
// fromSeq means every event published after Subscribe returns.
//
// The channel is closed when ctx is done, stop is called, the Bus closes,
// reading the log fails, or the subscriber falls more than Options.Buffer
// events behind the publishers. In every case the subscriber can resume by
// subscribing again from the last sequence number it received. Events
// trimmed from the log before they were replayed are skipped; a jump in
// sequence numbers shows it.
//
// stop ends the subscription and waits until its goroutine has finished; it
// is safe to call more than once.
func (b *Bus) Subscribe(ctx context.Context, fromSeq int64, filter Filter) (<-chan Event, func()) {
	out := make(chan Event)
	s := &subscriber{filter: filter, live: make(chan Event, b.opts.Buffer)}
	ctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(b.ctx, cancel)

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		unhook()
		cancel()
		close(out)
		return out, func() {}
	}
	joined := int64(-1)
	if fromSeq < 0 {
		// Nothing to replay: join the fan-out now, so that every event
		// published after Subscribe returns is seen.
		fromSeq, joined = b.last, b.last
		b.subs[s] = struct{}{}
	}
	b.wg.Add(1)
	b.mu.Unlock()

	done := make(chan struct{})
	go func() {
		defer b.wg.Done()
		defer close(done)
		defer close(out)
		defer func() {
			b.mu.Lock()
			b.removeLocked(s)
			b.mu.Unlock()
		}()
		b.serve(ctx, s, fromSeq, joined, out)
	}()
	return out, func() {
		unhook()
		cancel()
		<-done
	}
}

// serve replays the log to out, joins the live fan-out (unless joined, the
// last sequence number before s joined, is not negative), and forwards live
// events until something ends the subscription.
//
// The hand-over works because Publish appends an event to the log before it
// takes b.mu to fan it out: everything up to b.last, read under b.mu at the
// moment s joins, is in the log, and everything after reaches s.live.
func (b *Bus) serve(ctx context.Context, s *subscriber, fromSeq, joined int64, out chan<- Event) {
	send := func(e Event) bool {
		if !s.filter.Match(e) {
			return true
		}
		select {
		case out <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	cursor := fromSeq

	if joined < 0 {
		// Catch up from the log before joining, so a long replay does not
		// fill the live buffer.
		for {
			evs, err := b.log.EventsSince(ctx, cursor, replayBatch)
			if err != nil {
				b.logReplayError(ctx, cursor, err)
				return
			}
			for _, e := range evs {
				cursor = e.Seq
				if !send(e) {
					return
				}
			}
			if len(evs) < replayBatch {
				break
			}
		}

		b.mu.Lock()
		if b.closed || ctx.Err() != nil {
			b.mu.Unlock()
			return
		}
		joined = b.last
		b.subs[s] = struct{}{}
		b.mu.Unlock()
	}

	// Replay what was appended between the catch-up and joining.
gap:
	for cursor < joined {
		evs, err := b.log.EventsSince(ctx, cursor, replayBatch)
		if err != nil {
			b.logReplayError(ctx, cursor, err)
			return
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq > joined {
				break gap // the rest comes live
			}
			cursor = e.Seq
			if !send(e) {
				return
			}
		}
	}
	cursor = max(cursor, joined)

	for {
		select {
		case e, ok := <-s.live:
			if !ok {
				return
			}
			if e.Seq <= cursor {
				continue
			}
			cursor = e.Seq
			if !send(e) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (b *Bus) logReplayError(ctx context.Context, after int64, err error) {
	if ctx.Err() == nil {
		b.opts.Logger.Warn("replaying event log", "after", after, "err", err)
	}
}
