package transport

import (
	"sync"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
)

// quiesceDrain bounds how long a session a quiesce ended waits for its
// streams' holders to close them (a handler still returning) before the
// marker goes out anyway, and how long the marker's write may wait for
// the line.
const quiesceDrain = 2 * time.Second

// markQuiesced writes client.SerialQuiesced once streams are all closed
// (or quiesceDrain passed): the host that asked for the quiesce pauses the
// guest when it reads it, with the session's teardown behind it rather
// than ahead of every restore.
func (l *SerialListener) markQuiesced(streams *sync.WaitGroup) {
	drained := make(chan struct{})
	go func() {
		streams.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(quiesceDrain):
		l.log.Debug("agent port: streams still open after a quiesce; marking it done anyway", "port", l.f.Name())
	case <-l.closing:
		return
	}
	// A host that hung up already would keep the write waiting until the
	// next one connects; that one discards it, but the listener must not
	// wait that long.
	_ = l.f.SetWriteDeadline(time.Now().Add(quiesceDrain))
	if _, err := l.f.Write(client.SerialQuiesced[:]); err != nil {
		l.log.Debug("agent port: quiesce marker not written", "port", l.f.Name(), "err", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closing: // its own deadline stays
	default:
		_ = l.f.SetWriteDeadline(time.Time{})
	}
}
