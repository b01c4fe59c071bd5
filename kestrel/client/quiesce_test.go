package client

import (
	"bytes"
	"io"
	"testing"
)

type chunked struct {
	chunks [][]byte
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}
func (c *chunked) Write(p []byte) (int, error) { return len(p), nil }
func (c *chunked) Close() error                { return nil }

// The watch finds the marker wherever reads split it, passes every byte
// on unchanged, and stays quiet without one.
func TestWatchQuiesced(t *testing.T) {
	frame := append([]byte("some yamux frames before "), SerialQuiesced[:]...)
	for cut := 0; cut <= len(frame); cut++ {
		for cut2 := cut; cut2 <= len(frame); cut2 += 5 {
			src := &chunked{chunks: [][]byte{frame[:cut], frame[cut:cut2], frame[cut2:]}}
			w, seen := WatchQuiesced(src)
			got, err := io.ReadAll(w)
			if err != nil || !bytes.Equal(got, frame) {
				t.Fatalf("cuts %d,%d: read %q, %v; want the bytes unchanged", cut, cut2, got, err)
			}
			select {
			case <-seen:
			default:
				t.Fatalf("cuts %d,%d: marker not seen", cut, cut2)
			}
		}
	}
	w, seen := WatchQuiesced(&chunked{chunks: [][]byte{SerialHelloAnswer[:], []byte("data")}})
	_, _ = io.ReadAll(w)
	select {
	case <-seen:
		t.Fatal("marker seen in a stream without one")
	default:
	}
}
