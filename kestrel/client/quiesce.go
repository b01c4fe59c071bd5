package client

import (
	"bytes"
	"io"
)

// SerialQuiesced is what the agent writes on the virtio-serial line once
// the session a quiesce ended is torn down: its streams closed by their
// handlers, its yamux loops gone. It is a yamux ping acknowledgement
// (version 0, type 2, flag ACK, stream 0) with the opaque value "qsce",
// which a yamux client drops, having sent no such ping. A host waits for
// it before pausing the guest for a snapshot; without it the guest was
// paused mid-teardown, and every restore of the snapshot first finished
// tearing down the session of the host that took it (under TCG about 800
// freshly translated blocks of a create's 13,500).
//
// QuiesceMarkHeader, in the quiesce's answer, says the agent sends the
// marker (older agents do not, and a host then does not wait for it).
var SerialQuiesced = [12]byte{0, 2, 0, 2, 0, 0, 0, 0, 'q', 's', 'c', 'e'}

// QuiesceMarkHeader is the quiesce answer's header that announces
// SerialQuiesced; its value is "1".
const QuiesceMarkHeader = "Volant-Quiesce-Mark"

// WatchQuiesced returns conn, whose reads now also look for
// SerialQuiesced, and a channel closed once one was read. A host runs its
// yamux client over the returned conn, so the marker is seen whichever
// reader consumes it. The marker's bytes inside a data frame would close
// the channel early: the host then pauses the guest before its teardown
// ended, as it did before the marker.
func WatchQuiesced(conn io.ReadWriteCloser) (io.ReadWriteCloser, <-chan struct{}) {
	w := &quiesceWatch{ReadWriteCloser: conn, seen: make(chan struct{})}
	return w, w.seen
}

type quiesceWatch struct {
	io.ReadWriteCloser
	carry []byte // the last bytes read, in case the marker straddles reads
	seen  chan struct{}
	found bool
}

// Read is called by one reader at a time (yamux's receive loop). It looks
// at each read and at the seam with the one before, without copying what
// it read: the connection also carries file transfers.
func (w *quiesceWatch) Read(p []byte) (int, error) {
	n, err := w.ReadWriteCloser.Read(p)
	if n > 0 && !w.found {
		const k = len(SerialQuiesced) - 1
		chunk := p[:n]
		seam := append(w.carry, chunk[:min(n, k)]...) // at most 2k bytes
		if bytes.Contains(seam, SerialQuiesced[:]) || bytes.Contains(chunk, SerialQuiesced[:]) {
			w.found = true
			close(w.seen)
		}
		if n >= k {
			w.carry = append(w.carry[:0], chunk[n-k:]...)
		} else {
			w.carry = append(w.carry[:0], seam[len(seam)-min(len(seam), k):]...)
		}
	}
	return n, err
}
