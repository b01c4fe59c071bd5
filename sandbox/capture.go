package sandbox

import (
	"bytes"

	"github.com/volant-sh/volant/kestrel/client"
)

// outputCapture keeps the first max bytes of each stream of a streamed
// exec, so its result carries the output like a buffered one.
type outputCapture struct {
	max            int
	stdout, stderr bytes.Buffer
	outCut, errCut bool
}

func newOutputCapture(max int) *outputCapture {
	if max <= 0 {
		max = client.DefaultMaxOutputBytes
	}
	return &outputCapture{max: max}
}

func (c *outputCapture) add(stream string, b []byte) {
	buf, cut := &c.stdout, &c.outCut
	if stream == client.StreamStderr {
		buf, cut = &c.stderr, &c.errCut
	}
	room := c.max - buf.Len()
	if len(b) > room {
		b = b[:max(room, 0)]
		*cut = true
	}
	buf.Write(b)
}

// fill puts the captured output into r.
func (c *outputCapture) fill(r *ExecResult) {
	r.Stdout, r.Stderr = c.stdout.String(), c.stderr.String()
	r.StdoutTruncated = r.StdoutTruncated || c.outCut
	r.StderrTruncated = r.StderrTruncated || c.errCut
}
