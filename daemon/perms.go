package daemon

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/volant-sh/volant/events"
)

// The state directory holds the database (exec command lines, sandbox
// environment values, token hashes), snapshots (guest memory) and the
// admin token: only volantd's user may read any of it. The directory is
// 0700 and the database and snapshot files 0600 (directories 0700); files
// left looser by an older volantd are tightened on start.

// secureStateDir tightens the state directory, the database files and the
// snapshots. It is idempotent and logs what it could not change.
func secureStateDir(dir string, log *slog.Logger) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []string{dbFile, dbFile + "-wal", dbFile + "-shm", tokenFile} {
		if err := os.Chmod(filepath.Join(dir, f), 0o600); err != nil && !os.IsNotExist(err) {
			log.Warn("securing a state file", "path", f, "err", err)
		}
	}
	secureTree(filepath.Join(dir, "snapshots"), log)
	return nil
}

// secureTree takes group and other permissions off everything under root.
func secureTree(root string, log *slog.Logger) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone meanwhile, or root absent
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if mode := info.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, mode&^0o077); err != nil {
				log.Warn("securing a snapshot file", "path", p, "err", err)
			}
		}
		return nil
	})
}

// watchSnapshots secures each new snapshot's files as it is announced;
// stop ends the watch and waits for it. (Template snapshots are not
// announced: they sit in the same 0700 directory and are tightened on the
// next start.)
func (d *Daemon) watchSnapshots() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, unsub := d.bus.Subscribe(ctx, -1, events.Filter{Types: []string{events.SnapshotCreated}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			var data struct {
				Snapshot string `json:"snapshot"`
			}
			if json.Unmarshal(e.Data, &data) == nil && data.Snapshot != "" && filepath.IsLocal(data.Snapshot) {
				secureTree(filepath.Join(d.cfg.StateDir, "snapshots", data.Snapshot), d.log)
			}
		}
	}()
	return func() { cancel(); unsub(); <-done }
}
