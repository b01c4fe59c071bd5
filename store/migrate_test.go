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

// TestMigrateTokenScopes: tokens from before scopes become operator, but
// the daemon's admin token stays admin.
func TestMigrateTokenScopes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Back to the schema before 0014, with two tokens in it.
	for _, q := range []string{
		`DELETE FROM schema_migrations WHERE version = 14`,
		`ALTER TABLE api_tokens DROP COLUMN scope`,
		`ALTER TABLE api_tokens DROP COLUMN expires_at`,
		`INSERT INTO api_tokens (id, name, hash, created_at) VALUES ('tok_a', 'admin', 'h1', 1), ('tok_b', 'ci', 'h2', 2)`,
	} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := migrate(ctx, s.w); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tok := range list {
		got[tok.Name] = tok.Scope
	}
	if got["admin"] != "admin" || got["ci"] != "operator" {
		t.Errorf("scopes after migration = %v, want admin: admin, ci: operator", got)
	}
}
