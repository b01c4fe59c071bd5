package workload

import "time"

// The restart backoff: the first restart waits minBackoff, each next one
// twice as long up to maxBackoff; a process that ran for resetAfter or
// more starts the sequence over.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
	resetAfter = 10 * time.Second
)

// backoff computes the waits between restarts of one workload.
type backoff struct {
	last time.Duration // the previous wait; 0 before the first
}

// next returns how long to wait before restarting a process that ran for
// ran (0 for a start that failed).
func (b *backoff) next(ran time.Duration) time.Duration {
	if b.last == 0 || ran >= resetAfter {
		b.last = minBackoff
	} else {
		b.last = min(2*b.last, maxBackoff)
	}
	return b.last
}
