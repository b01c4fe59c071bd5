-- Tokens get a scope (read, operator or admin) and an optional expiry.
-- Tokens made before scopes existed could do everything; they become
-- operator, except the daemon's own admin token (named "admin"), so an old
-- token no longer manages tokens or installs plugins.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'operator';
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
UPDATE api_tokens SET scope = 'admin' WHERE name = 'admin';
