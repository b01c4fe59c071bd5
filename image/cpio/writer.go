package cpio

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	magic   = "070701"
	trailer = "TRAILER!!!"
	hdrLen  = 110
)

// Writer writes a newc archive. Call Close to write the trailer.
type Writer struct {
	w      io.Writer
	n      int64
	ino    uint32
	closed bool
}

// NewWriter returns a Writer that writes an archive to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write adds one entry. Names must be relative ("bin/sh", not "/bin/sh").
func (w *Writer) Write(e Entry) error {
	if w.closed {
		return errors.New("cpio: write after close")
	}
	if e.Name == "" || strings.HasPrefix(e.Name, "/") || e.Name == trailer {
		return fmt.Errorf("cpio: bad entry name %q", e.Name)
	}
	switch e.Type() {
	case TypeRegular, TypeSymlink:
	default:
		if len(e.Data) != 0 {
			return fmt.Errorf("cpio: %s: only files and symlinks carry data", e.Name)
		}
	}
	w.ino++
	nlink := uint32(1)
	if e.Type() == TypeDir {
		nlink = 2
	}
	return w.write(e, w.ino, nlink)
}

func (w *Writer) write(e Entry, ino, nlink uint32) error {
	fields := []uint32{
		ino, e.Mode, e.UID, e.GID, nlink, e.MTime, uint32(len(e.Data)),
		0, 0, e.RDevMajor, e.RDevMinor, uint32(len(e.Name) + 1), 0,
	}
	var b strings.Builder
	b.Grow(hdrLen + len(e.Name) + 4)
	b.WriteString(magic)
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(e.Name)
	b.WriteByte(0)
	b.WriteString(strings.Repeat("\x00", pad4(hdrLen+len(e.Name)+1)))
	if err := w.emit([]byte(b.String())); err != nil {
		return err
	}
	if err := w.emit(e.Data); err != nil {
		return err
	}
	return w.emit(make([]byte, pad4(len(e.Data))))
}

func (w *Writer) emit(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	if err != nil {
		return fmt.Errorf("cpio: %w", err)
	}
	return nil
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.write(Entry{Name: trailer}, 0, 1); err != nil {
		return err
	}
	// The kernel reads the archive in 512-byte blocks only when told to;
	// padding to 512 keeps tools such as cpio(1) from complaining.
	return w.emit(make([]byte, (512-w.n%512)%512))
}

func pad4(n int) int { return (4 - n%4) % 4 }
