package qemu

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// The serial console goes to a unix socket chardev (server=on,wait=off)
// in the VM directory. The driver connects to it and copies what the guest
// prints into console.log, which it keeps bounded: when a write would take
// the file past the limit, the file is replaced (write to a temporary
// file, rename) by its last limit/2 bytes followed by the new output, so
// it always holds the most recent output and never exceeds the limit.
//
// QEMU drops console output while nobody is connected, so a guest never
// stalls on a full console while volantd is down; that output is lost.
// Boot starts QEMU paused (-S) and connects the console before the first
// instruction runs, so nothing of the boot is lost. After a restart,
// Attach connects again and appends to the same file.

const defaultConsoleLogBytes = 1 << 20

// boundedLog is an append-only file that keeps only its tail.
type boundedLog struct {
	path  string
	limit int64
	f     *os.File
	size  int64
}

func openBoundedLog(path string, limit int64) (*boundedLog, error) {
	if limit <= 0 {
		limit = defaultConsoleLogBytes
	}
	if limit < 2 {
		limit = 2
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &boundedLog{path: path, limit: limit, f: f, size: st.Size()}, nil
}

func (l *boundedLog) Write(p []byte) (int, error) {
	n := len(p)
	half := l.limit / 2
	keep := half
	if int64(len(p)) > half {
		// This write alone is more than half the limit: the file becomes
		// its last half, so the file stays a suffix of all output.
		p = p[int64(len(p))-half:]
		keep = 0
	}
	if l.size+int64(len(p)) > l.limit || (keep == 0 && l.size > 0) {
		if err := l.trim(keep); err != nil {
			return 0, err
		}
	}
	w, err := l.f.Write(p)
	l.size += int64(w)
	if err != nil {
		return w, err
	}
	return n, nil
}

// trim replaces the file by its last keep bytes.
func (l *boundedLog) trim(keep int64) error {
	src, err := os.Open(l.path)
	if err != nil {
		return err
	}
	defer src.Close()
	off := max(l.size-keep, 0)
	tmp := l.path + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(dst, io.NewSectionReader(src, off, keep))
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	l.f.Close()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	l.f, l.size = f, n
	return nil
}

func (l *boundedLog) Close() error { return l.f.Close() }

// consoleCopier copies the console socket into a bounded log.
type consoleCopier struct {
	conn net.Conn
	log  *boundedLog
	wg   sync.WaitGroup
	once sync.Once
}

// startConsole connects to the console socket and copies it to logPath
// until stop is called or QEMU closes the socket.
func startConsole(ctx context.Context, sock, logPath string, limit int64) (*consoleCopier, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	log, err := openBoundedLog(logPath, limit)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &consoleCopier{conn: conn, log: log}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				log.Write(buf[:n]) // a full disk loses console output, not the VM
			}
			if err != nil {
				return
			}
		}
	}()
	return c, nil
}

// stop disconnects and waits for the copy to end. It is idempotent.
func (c *consoleCopier) stop() {
	c.once.Do(func() {
		// Let output already in the socket reach the file.
		c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		c.wg.Wait()
		c.conn.Close()
		c.log.Close()
	})
}
