package transport

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/volant-sh/volant/kestrel/client"
)

func yamuxFrame(typ byte, flags uint16, stream uint32, payload []byte, length uint32) []byte {
	h := make([]byte, yamuxHeaderLen)
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:4], flags)
	binary.BigEndian.PutUint32(h[4:8], stream)
	if typ == yamuxTypeData {
		length = uint32(len(payload))
	}
	binary.BigEndian.PutUint32(h[8:12], length)
	return append(h, payload...)
}

// TestFrameTracker: however the bytes are split, the tracker finds the
// next host's hello at a frame boundary and not inside a data frame, and
// not the session's own first hello.
func TestFrameTracker(t *testing.T) {
	var stream []byte
	stream = append(stream, client.SerialHello[:]...)
	stream = append(stream, yamuxFrame(1, 1, 1, nil, 256*1024)...) // window update
	stream = append(stream, yamuxFrame(0, 0, 1, bytes.Repeat(client.SerialHello[:], 50), 0)...)
	stream = append(stream, yamuxFrame(2, 1, 0, nil, 7)...) // a ping
	want := len(stream) + yamuxHeaderLen
	stream = append(stream, client.SerialHello[:]...)
	stream = append(stream, yamuxFrame(0, 1, 1, []byte("GET /"), 0)...)
	for range 200 {
		var tr frameTracker
		got, off := -1, 0
		for off < len(stream) {
			n := min(1+rand.IntN(40), len(stream)-off)
			if end, ok := tr.feed(stream[off : off+n]); ok {
				got = off + end
				break
			}
			off += n
		}
		if got != want {
			t.Fatalf("hello found ending at %d, want %d", got, want)
		}
	}
}

func TestHelloScanner(t *testing.T) {
	junk := []byte("\x00\x02\x00\x01 left over by an earlier host \x00")
	stream := append(append(junk, client.SerialHello[:]...), "after"...)
	for split := range len(stream) {
		var s helloScanner
		rest, ok := s.feed(stream[:split])
		if ok {
			rest = append(rest, stream[split:]...)
		} else {
			rest, ok = s.feed(stream[split:])
		}
		if !ok || !bytes.Equal(rest, stream[len(junk):]) {
			t.Fatalf("split at %d: %q, %v", split, rest, ok)
		}
	}
}
