package cloudhypervisor

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// defaultConsoleLogBytes bounds the console log when the config does not.
const defaultConsoleLogBytes = 1 << 20

// boundedLog is a file that keeps at most limit bytes: when a write would
// pass the limit, the older half is dropped.
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
	limit = max(limit, 2)
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
	if int64(len(p)) > half {
		p = p[int64(len(p))-half:]
	}
	if l.size+int64(len(p)) > l.limit {
		if err := l.trim(half - int64(len(p))); err != nil {
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

// trim keeps the last keep bytes of the file.
func (l *boundedLog) trim(keep int64) error {
	keep = max(keep, 0)
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

// consoleTail copies the VMM's serial socket into the bounded console log
// until stopped or the socket closes.
type consoleTail struct {
	conn net.Conn
	log  *boundedLog
	wg   sync.WaitGroup
	once sync.Once
}

// tailConsole connects to the serial socket, retrying until the VMM has
// made it or ctx ends.
func tailConsole(ctx context.Context, sock, logPath string, limit int64) (*consoleTail, error) {
	var conn net.Conn
	var err error
	delay := 2 * time.Millisecond
	for {
		var d net.Dialer
		if conn, err = d.DialContext(ctx, "unix", sock); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
	log, err := openBoundedLog(logPath, limit)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &consoleTail{conn: conn, log: log}
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

// stop ends the copy; output already read is in the log.
func (c *consoleTail) stop() {
	c.once.Do(func() {
		c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		c.wg.Wait()
		c.conn.Close()
		c.log.Close()
	})
}
