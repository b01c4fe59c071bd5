package qemu

import (
	"bytes"
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copySparse copies src to dst (created, mode 0600) leaving holes where
// src has holes or all-zero blocks, so a guest memory file of which the
// guest touched a little costs a little. It returns the bytes written.
func copySparse(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return 0, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := copyData(in, out, st.Size())
	if err == nil {
		err = out.Truncate(st.Size())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return n, err
}

// copyData copies the data regions of in (found with SEEK_DATA and
// SEEK_HOLE; the whole file where those are not supported), skipping
// all-zero blocks inside them.
func copyData(in, out *os.File, size int64) (int64, error) {
	const block, page = 1 << 20, 4096
	buf := make([]byte, block)
	zero := make([]byte, page)
	var written int64
	fd := int(in.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			data = off // no SEEK_DATA here: copy everything
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		for p := data; p < hole; {
			n := int(min(int64(block), hole-p))
			if _, err := in.ReadAt(buf[:n], p); err != nil && !errors.Is(err, io.EOF) {
				return written, err
			}
			// Write the runs of pages that are not all zero.
			for i := 0; i < n; {
				if bytes.Equal(buf[i:min(i+page, n)], zero[:min(page, n-i)]) {
					i += page
					continue
				}
				j := i + page
				for j < n && !bytes.Equal(buf[j:min(j+page, n)], zero[:min(page, n-j)]) {
					j += page
				}
				j = min(j, n)
				if _, err := out.WriteAt(buf[i:j], p+int64(i)); err != nil {
					return written, err
				}
				written += int64(j - i)
				i = j
			}
			p += int64(n)
		}
		off = hole
	}
	return written, nil
}

// linkOrCopy hard-links src to dst, or copies it (sparsely) when they are
// on different file systems.
func linkOrCopy(src, dst string) error {
	err := os.Link(src, dst)
	if err == nil {
		return nil
	}
	var le *os.LinkError
	if errors.As(err, &le) && (errors.Is(le.Err, unix.EXDEV) || errors.Is(le.Err, unix.EPERM)) {
		_, err = copySparse(src, dst)
	}
	return err
}
