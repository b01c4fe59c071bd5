package transport

import (
	"bytes"
	"encoding/binary"

	"github.com/volant-sh/volant/kestrel/client"
)

// A host marks the start of its session in the byte stream with
// client.SerialHello, a yamux ping frame. Between sessions the listener
// looks for it anywhere (helloScanner); within a session only at frame
// boundaries (frameTracker), so a hello's bytes inside a data frame (a
// file that holds them, say) do not end the session.

// helloBytes returns a new copy of the hello.
func helloBytes() []byte { return bytes.Clone(client.SerialHello[:]) }

// helloScanner finds the hello anywhere in the bytes fed to it.
type helloScanner struct{ carry []byte }

// feed returns the bytes from the hello on, once one has been fed.
func (s *helloScanner) feed(b []byte) (rest []byte, found bool) {
	s.carry = append(s.carry, b...)
	if i := bytes.Index(s.carry, client.SerialHello[:]); i >= 0 {
		return bytes.Clone(s.carry[i:]), true
	}
	if k := len(client.SerialHello) - 1; len(s.carry) > k {
		s.carry = append(s.carry[:0], s.carry[len(s.carry)-k:]...)
	}
	return nil, false
}

// yamux's frame header: version, type, flags, stream, length; a data
// frame (type 0) carries length bytes after it, the others none.
const (
	yamuxHeaderLen = 12
	yamuxTypeData  = 0
)

// frameTracker follows the frames of a yamux session through the bytes
// fed to it, to find a hello at the start of a frame.
type frameTracker struct {
	hdr  [yamuxHeaderLen]byte
	have int    // header bytes collected
	skip uint32 // payload bytes of the current data frame still to pass
	lost bool   // not yamux (bad version): yamux ends the session itself
	// frames counts the headers seen; the first is the session's own hello.
	frames int
}

// feed returns the offset in b just past a hello's header, if one ends in b.
func (t *frameTracker) feed(b []byte) (end int, found bool) {
	for i := 0; i < len(b) && !t.lost; {
		if t.skip > 0 {
			k := min(uint32(len(b)-i), t.skip)
			i += int(k)
			t.skip -= k
			continue
		}
		k := copy(t.hdr[t.have:], b[i:])
		t.have += k
		i += k
		if t.have < yamuxHeaderLen {
			break
		}
		t.have = 0
		t.frames++
		switch {
		case t.hdr == client.SerialHello && t.frames > 1:
			return i, true
		case t.hdr[0] != 0:
			t.lost = true
		case t.hdr[1] == yamuxTypeData:
			t.skip = binary.BigEndian.Uint32(t.hdr[8:12])
		}
	}
	return 0, false
}
