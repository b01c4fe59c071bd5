package store

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := migrate(ctx, s.w); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	ms, err := loadMigrations(migrations)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
	var fk, sync int
	var mode string
	if err := s.w.QueryRowContext(ctx, `SELECT foreign_keys, synchronous, journal_mode FROM pragma_foreign_keys, pragma_synchronous, pragma_journal_mode`).Scan(&fk, &sync, &mode); err != nil {
		t.Fatal(err)
	}
	if fk != 1 || sync != 1 || mode != "wal" {
		t.Errorf("foreign_keys=%d synchronous=%d journal_mode=%s; want 1, 1 (NORMAL), wal", fk, sync, mode)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"no number":      {"migrations/init.sql": {}},
		"shared version": {"migrations/0001_a.sql": {}, "migrations/1_b.sql": {}},
	}
	for name, fsys := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := loadMigrations(fsys); err == nil {
				t.Error("loadMigrations succeeded, want an error")
			}
		})
	}
}
