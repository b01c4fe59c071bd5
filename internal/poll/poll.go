// Package poll retries an operation until it succeeds, with one backoff
// and one place that bounds each attempt, so callers do not nest retry
// loops (a waiter retrying a call that retries too). It uses only the
// standard library: kestrel uses it as well as the host.
package poll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backoff says how Until spaces and bounds its attempts.
type Backoff struct {
	// First is the pause after the first failure; it doubles up to Max.
	First, Max time.Duration
	// Attempt bounds each call of try; zero leaves it to ctx.
	Attempt time.Duration
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that Until returns it at once instead of trying
// again. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// Until calls try until it returns nil, returns a Permanent error, or ctx
// ends. It returns nil, the permanent error (unwrapped), or, when ctx
// ended first, an error that wraps both ctx's error and the last error of
// try, so the caller can say why the attempts failed.
func Until(ctx context.Context, b Backoff, try func(context.Context) error) error {
	delay := b.First
	if delay <= 0 {
		delay = 10 * time.Millisecond
	}
	if b.Max < delay {
		b.Max = delay
	}
	for {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if b.Attempt > 0 {
			actx, cancel = context.WithTimeout(ctx, b.Attempt)
		}
		err := try(actx)
		cancel()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
		if ctx.Err() != nil {
			return &Error{Ctx: ctx.Err(), Last: err}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return &Error{Ctx: ctx.Err(), Last: err}
		case <-t.C:
		}
		delay = min(delay*2, b.Max)
	}
}

// Error is what Until returns when ctx ended before try succeeded.
type Error struct {
	Ctx  error // context.Canceled or context.DeadlineExceeded
	Last error // the last attempt's error
}

func (e *Error) Error() string { return fmt.Sprintf("%v (last error: %v)", e.Ctx, e.Last) }

// Unwrap gives both errors to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return []error{e.Ctx, e.Last} }
