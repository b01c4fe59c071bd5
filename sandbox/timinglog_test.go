package sandbox_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// timingLog is a debug logger for a benchmark's engine that keeps the
// "… timing" lines (sandbox/timing.go), which show with -v where each
// operation's time went.
type timingLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *timingLog) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte(" timing")) {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// logger is the engine's logger: debug level into l.
func (l *timingLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// report logs the lines kept, with -v.
func (l *timingLog) report(b testing.TB) {
	if !testing.Verbose() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		b.Log(line)
	}
}
