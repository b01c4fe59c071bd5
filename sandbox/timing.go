package sandbox

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Timing of the steps of one operation (a create, a wake, a fork), for one
// debug line that says where its time went: "create timing" with
// resolve=… admit=… network=… vmm=… identity=… …. The recorder rides in
// the context, so the steps deep in boot need no extra argument; without
// one, step does nothing.

type timingKey struct{}

// timing is the steps recorded so far.
type timing struct {
	mu          sync.Mutex
	start, last time.Time
	steps       []any
}

// withTiming returns ctx carrying a new recorder, and the recorder.
func withTiming(ctx context.Context) (context.Context, *timing) {
	now := time.Now()
	t := &timing{start: now, last: now}
	return context.WithValue(ctx, timingKey{}, t), t
}

// step records that the step name ended now: the time since the last step.
func step(ctx context.Context, name string) {
	t, _ := ctx.Value(timingKey{}).(*timing)
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.steps = append(t.steps, name, now.Sub(t.last).Round(100*time.Microsecond))
	t.last = now
}

// log writes the steps, the total and args as one debug line.
func (t *timing) log(l *slog.Logger, msg string, args ...any) {
	if !l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	all := append(append(args, t.steps...), "total", time.Since(t.start).Round(100*time.Microsecond))
	l.Debug(msg, all...)
}
