-- Times are INTEGER nanoseconds since the Unix epoch (UTC); NULL means "never".

CREATE TABLE sandboxes (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL DEFAULT '',
	runtime        TEXT NOT NULL DEFAULT '',
	state          TEXT NOT NULL DEFAULT '',
	reason         TEXT NOT NULL DEFAULT '',
	spec           BLOB,
	vm_dir         TEXT NOT NULL DEFAULT '',
	driver         TEXT NOT NULL DEFAULT '',
	ip             TEXT NOT NULL DEFAULT '',
	mac            TEXT NOT NULL DEFAULT '',
	tap            TEXT NOT NULL DEFAULT '',
	from_snapshot  TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	expires_at     INTEGER,
	last_active_at INTEGER NOT NULL,
	version        INTEGER NOT NULL DEFAULT 1
) STRICT;

-- Names are unique only when given.
CREATE UNIQUE INDEX sandboxes_name ON sandboxes (name) WHERE name <> '';
-- Keyset pagination walks (created_at, id).
CREATE INDEX sandboxes_created ON sandboxes (created_at, id);
CREATE INDEX sandboxes_state ON sandboxes (state, created_at, id);
CREATE INDEX sandboxes_runtime ON sandboxes (runtime, created_at, id);
CREATE INDEX sandboxes_from_snapshot ON sandboxes (from_snapshot) WHERE from_snapshot <> '';

-- Labels live in a side table so that filters by key=value use an index.
CREATE TABLE sandbox_labels (
	sandbox_id TEXT NOT NULL REFERENCES sandboxes (id) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	value      TEXT NOT NULL,
	PRIMARY KEY (sandbox_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX sandbox_labels_kv ON sandbox_labels (key, value, sandbox_id);

CREATE TABLE leases (
	pool       TEXT NOT NULL,
	ip         TEXT NOT NULL,
	sandbox_id TEXT NOT NULL,
	mac        TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	PRIMARY KEY (pool, ip)
) STRICT;
-- One address per owner per pool.
CREATE UNIQUE INDEX leases_owner ON leases (pool, sandbox_id);

CREATE TABLE plugins (
	name         TEXT PRIMARY KEY,
	version      TEXT NOT NULL DEFAULT '',
	enabled      INTEGER NOT NULL DEFAULT 0,
	manifest     BLOB,
	installed_at INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE snapshots (
	id         TEXT PRIMARY KEY,
	sandbox_id TEXT NOT NULL DEFAULT '',
	parent_id  TEXT REFERENCES snapshots (id) ON DELETE RESTRICT,
	runtime    TEXT NOT NULL DEFAULT '',
	dir        TEXT NOT NULL DEFAULT '',
	manifest   BLOB,
	size_bytes INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX snapshots_parent ON snapshots (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX snapshots_sandbox ON snapshots (sandbox_id);

-- AUTOINCREMENT: sequence numbers are never reused, even after trimming.
CREATE TABLE events (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	time       INTEGER NOT NULL,
	type       TEXT NOT NULL,
	sandbox_id TEXT NOT NULL DEFAULT '',
	data       BLOB
) STRICT;

CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL DEFAULT '',
	hash         TEXT NOT NULL UNIQUE,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
) STRICT;
