package cpio

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// Reader reads the entries of a newc archive, for tests and inspection.
type Reader struct {
	r   *bufio.Reader
	off int64
}

// NewReader returns a Reader over the archive in r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReader(r)} }

// Next returns the next entry, or io.EOF after the trailer.
func (r *Reader) Next() (*Entry, error) {
	var hdr [hdrLen]byte
	if err := r.read(hdr[:]); err != nil {
		return nil, err
	}
	if string(hdr[:6]) != magic {
		return nil, fmt.Errorf("cpio: bad magic %q at offset %d", hdr[:6], r.off-hdrLen)
	}
	var f [13]uint32
	for i := range f {
		v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("cpio: bad header field %d: %w", i, err)
		}
		f[i] = uint32(v)
	}
	name := make([]byte, f[11])
	if err := r.read(name); err != nil {
		return nil, err
	}
	if err := r.skip(pad4(hdrLen + len(name))); err != nil {
		return nil, err
	}
	e := &Entry{
		Name: string(name[:len(name)-1]), Mode: f[1], UID: f[2], GID: f[3], MTime: f[5],
		RDevMajor: f[9], RDevMinor: f[10],
	}
	if e.Name == trailer {
		return nil, io.EOF
	}
	if f[6] > 0 {
		e.Data = make([]byte, f[6])
		if err := r.read(e.Data); err != nil {
			return nil, err
		}
		if err := r.skip(pad4(len(e.Data))); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (r *Reader) read(p []byte) error {
	n, err := io.ReadFull(r.r, p)
	r.off += int64(n)
	if err != nil {
		return fmt.Errorf("cpio: truncated archive at offset %d: %w", r.off, err)
	}
	return nil
}

func (r *Reader) skip(n int) error {
	if n == 0 {
		return nil
	}
	return r.read(make([]byte, n))
}
