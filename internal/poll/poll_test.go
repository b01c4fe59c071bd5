package poll

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	b := Backoff{First: time.Millisecond, Max: 2 * time.Millisecond}
	errBusy := errors.New("busy")
	t.Run("succeeds after failures", func(t *testing.T) {
		n := 0
		err := Until(context.Background(), b, func(context.Context) error {
			if n++; n < 3 {
				return errBusy
			}
			return nil
		})
		if err != nil || n != 3 {
			t.Errorf("Until = %v after %d tries; want nil after 3", err, n)
		}
	})
	t.Run("permanent stops", func(t *testing.T) {
		n := 0
		err := Until(context.Background(), b, func(context.Context) error { n++; return Permanent(errBusy) })
		if !errors.Is(err, errBusy) || n != 1 {
			t.Errorf("Until = %v after %d tries; want busy after 1", err, n)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := Until(ctx, b, func(context.Context) error {
			if n++; n == 2 {
				cancel()
			}
			return errBusy
		})
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errBusy) {
			t.Errorf("Until = %v; want it to wrap Canceled and the last error", err)
		}
	})
	t.Run("attempt bounded", func(t *testing.T) {
		n := 0
		err := Until(context.Background(), Backoff{First: time.Millisecond, Attempt: time.Millisecond}, func(ctx context.Context) error {
			if n++; n == 1 {
				<-ctx.Done() // the attempt's own deadline, not the caller's
				return ctx.Err()
			}
			return nil
		})
		if err != nil || n != 2 {
			t.Errorf("Until = %v after %d tries; want nil after 2", err, n)
		}
	})
}
