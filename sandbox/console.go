package sandbox

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/volant-sh/volant/errdefs"
)

// ConsoleLog returns the last tail bytes of a sandbox's serial console
// (the whole bounded log when tail <= 0) and the log file's path, for
// followers. A stopped or failed sandbox's last console is kept until it
// is deleted.
func (m *Manager) ConsoleLog(ctx context.Context, idOrName string, tail int) ([]byte, string, error) {
	rec, err := m.record(ctx, idOrName)
	if err != nil {
		return nil, "", err
	}
	path := m.consoleSavePath(rec.ID)
	if in, ok := m.instance(rec.ID); ok {
		path = in.vm.ConsoleLogPath()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", errdefs.NotFound("sandbox %s has no console log yet", rec.ID)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	off := int64(0)
	if tail > 0 && st.Size() > int64(tail) {
		off = st.Size() - int64(tail)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, "", err
	}
	data, err := io.ReadAll(io.LimitReader(f, 8<<20))
	return data, path, err
}

// consoleSavePath is where a sandbox's console log is kept after its VM is gone.
func (m *Manager) consoleSavePath(id string) string {
	return filepath.Join(m.cfg.StateDir, "logs", id+".console")
}

// saveConsole copies a VM's console log out of its directory before the
// directory is removed.
func (m *Manager) saveConsole(id, src string) {
	data, err := os.ReadFile(src)
	if err != nil || len(data) == 0 {
		return
	}
	dst := m.consoleSavePath(id)
	_ = os.MkdirAll(filepath.Dir(dst), 0o700)
	_ = os.WriteFile(dst, data, 0o600)
}
