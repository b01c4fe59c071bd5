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
	// total counts the bytes ever written; cur and prev are total when
	// the current and the previous run started, runs how many started.
	total, cur, prev int64
	runs             int
}

func newLogRing(limit int) *logRing { return &logRing{limit: limit} }

// Write keeps the last limit bytes of everything written; it never fails.
func (l *logRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	l.total += int64(n)
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

// mark notes that a run starts: what is written from now on is its
// output.
func (l *logRing) mark() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prev, l.cur = l.cur, l.total
	l.runs++
}

// previous returns a copy of the previous run's output, as much of it as
// the ring still keeps; false when there was no previous run.
func (l *logRing) previous() ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runs < 2 {
		return nil, false
	}
	start := l.total - int64(len(l.buf)) // the offset of buf[0]
	from, to := max(l.prev, start), max(l.cur, start)
	return append([]byte(nil), l.buf[from-start:to-start]...), true
}
