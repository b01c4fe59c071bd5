package workload

import "sync"

// logSize is how many bytes of output are kept per workload.
const logSize = 64 << 10

// logRing keeps the newest bytes written to it, up to its limit. It is
// an io.Writer shared by every run of a workload, so the output of a
// crashed run stays readable after the restart.
type logRing struct {
	limit int

	mu  sync.Mutex
	buf []byte
}

func newLogRing(limit int) *logRing { return &logRing{limit: limit} }

// Write keeps the last limit bytes of everything written; it never fails.
func (l *logRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	if n >= l.limit {
		l.buf = append(l.buf[:0], p[n-l.limit:]...)
		return n, nil
	}
	if len(l.buf)+n > l.limit {
		// Drop the oldest bytes in place, keeping the buffer's memory.
		keep := l.limit - n
		copy(l.buf, l.buf[len(l.buf)-keep:])
		l.buf = l.buf[:keep]
	}
	l.buf = append(l.buf, p...)
	return n, nil
}

// tail returns a copy of the last n bytes kept, all of them when n <= 0.
func (l *logRing) tail(n int) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf
	if n > 0 && n < len(b) {
		b = b[len(b)-n:]
	}
	return append([]byte(nil), b...)
}
