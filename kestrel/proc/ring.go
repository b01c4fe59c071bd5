package proc

import (
	"sync"

	"github.com/volant-sh/volant/kestrel/client"
)

// ring keeps the newest output of both streams, in order, within a byte
// budget. Offsets count every byte ever appended.
type ring struct {
	mu      sync.Mutex
	limit   int
	chunks  []client.OutputChunk
	size    int
	start   int64 // offset of the first retained byte
	end     int64 // offset after the last byte
	changed chan struct{}
	exit    *client.ExecResult // set when the process and its output are done
}

func newRing(limit int) *ring {
	return &ring{limit: limit, changed: make(chan struct{})}
}

func (r *ring) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *ring) append(stream string, p []byte) {
	if len(p) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.end += int64(len(p))
	if len(p) > r.limit {
		p = p[len(p)-r.limit:]
	}
	if n := len(r.chunks); n > 0 && r.chunks[n-1].Stream == stream {
		r.chunks[n-1].Data = append(r.chunks[n-1].Data, p...)
	} else {
		r.chunks = append(r.chunks, client.OutputChunk{Stream: stream, Data: append([]byte(nil), p...)})
	}
	r.size += len(p)
	for r.size > r.limit {
		over := r.size - r.limit
		first := &r.chunks[0]
		if len(first.Data) <= over {
			r.size -= len(first.Data)
			r.chunks = r.chunks[1:]
			continue
		}
		first.Data = append([]byte(nil), first.Data[over:]...)
		r.size -= over
	}
	r.start = r.end - int64(r.size)
	r.notifyLocked()
}

func (r *ring) finish(res client.ExecResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exit = &res
	r.notifyLocked()
}

// read returns the output from offset on and a channel closed at the
// next change.
func (r *ring) read(offset int64) (client.ProcessOutput, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := client.ProcessOutput{Chunks: []client.OutputChunk{}}
	offset = min(max(offset, 0), r.end)
	if offset < r.start {
		out.Dropped = r.start - offset
		out.Truncated = true
		offset = r.start
	}
	out.Offset = offset
	pos := r.start
	for _, c := range r.chunks {
		cend := pos + int64(len(c.Data))
		if cend > offset {
			from := max(offset-pos, 0)
			out.Chunks = append(out.Chunks, client.OutputChunk{Stream: c.Stream, Data: append([]byte(nil), c.Data[from:]...)})
		}
		pos = cend
	}
	out.NextOffset = r.end
	if r.exit != nil {
		out.Done = true
		e := *r.exit
		out.Exit = &e
	}
	return out, r.changed
}

// ended returns the result once the process is done.
func (r *ring) ended() *client.ExecResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exit
}
