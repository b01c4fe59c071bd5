// Package store keeps Volant's state in one SQLite database: sandboxes,
// address leases, plugins, snapshots, the event log and API tokens.
//
// The database runs in WAL mode with foreign keys on. All writes go through a
// single connection, so concurrent writers in this process queue in Go instead
// of failing with SQLITE_BUSY; reads use a separate pool and never wait for
// writers.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers the "sqlite3" database/sql driver
	"github.com/volant-sh/volant/errdefs"
)

// busyTimeout bounds how long a connection waits for a lock held by another
// process (for example an operator's sqlite3 shell) before giving up.
const busyTimeout = 10 * time.Second

// Store is Volant's SQLite database. It is safe for concurrent use.
type Store struct {
	w *sql.DB // the single writer connection
	r *sql.DB // read-only pool

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database at path and applies any
// pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errdefs.Invalid("store path is empty; pass the database file inside the state directory")
	}
	w, err := sql.Open("sqlite3", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	// The database holds exec command lines and sandbox environments: only
	// its owner reads it. SQLite gives the -wal and -shm files the
	// database's mode.
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o600); err != nil && !os.IsNotExist(err) {
			w.Close()
			return nil, fmt.Errorf("securing database %s: %w", f, err)
		}
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrating database %s: %w", path, err)
	}

	r, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening database %s for reading: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("opening database %s for reading: %w", path, err)
	}
	return &Store{w: w, r: r}, nil
}

// dsn builds the data source name. Order matters to the driver: the busy
// timeout comes first so that it applies while the other pragmas run.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	if writer {
		q.Add("_pragma", "journal_mode(wal)")
	}
	q.Add("_pragma", "foreign_keys(on)")
	q.Add("_pragma", "synchronous(normal)")
	if writer {
		// Take the write lock at BEGIN, so a transaction that reads
		// before it writes cannot fail to upgrade its lock.
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(on)")
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}
	return u.String()
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
	})
	return s.closeErr
}

// execer is what single statements need, from the writer or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writeTx runs fn in a write transaction, committing if fn returns nil.
// fn must not call other Store methods that write: there is one writer
// connection and it is held by this transaction.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	return errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) || errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY)
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	return errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY)
}
