package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Registry is the set of installed plugins: their records in the store,
// their artifact files in a directory, and an in-memory view of both. It
// is safe for concurrent use.
type Registry struct {
	cfg   Config
	log   *slog.Logger
	blobs blobs

	// opMu serializes changes (install, enable, disable, remove), so that
	// a change's checks, files and record are consistent.
	opMu sync.Mutex

	mu      sync.RWMutex
	plugins map[string]*entry
	// closing holds the plugins being disabled or removed: while the
	// registry asks whether sandboxes use one, no new sandbox may start
	// with it (see guardRuntime).
	closing map[string]bool

	subMu   sync.Mutex
	subs    map[int]func()
	nextSub int
}

// Open loads the installed plugins and verifies every artifact file's
// sha256 once. A plugin with a missing or corrupt file is listed with a
// Problem, and its Runtime is unavailable until it is reinstalled.
func Open(ctx context.Context, cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Registry{
		cfg:     cfg,
		log:     cfg.Logger,
		blobs:   blobs{dir: filepath.Join(cfg.Dir, "blobs")},
		plugins: make(map[string]*entry),
		subs:    make(map[int]func()),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(r.blobs.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the plugin directory: %w", err)
	}
	recs, err := cfg.Store.ListPlugins(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading plugins: %w", err)
	}
	info := make(map[string]blobInfo)
	for _, rec := range recs {
		for _, sum := range storedSums(rec.Manifest) {
			if _, done := info[sum]; done {
				continue
			}
			size, problem := r.blobs.verify(ctx, sum)
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("verifying plugin files: %w", err)
			}
			info[sum] = blobInfo{size: size, problem: problem}
		}
	}
	readable := true
	for _, rec := range recs {
		e := newEntry(r.blobs, rec, info)
		if e.problem != "" {
			r.log.Warn("plugin is broken", "plugin", rec.Name, "problem", e.problem)
		}
		if e.unreadable {
			readable = false
		}
		r.plugins[rec.Name] = e
	}
	r.cleanBlobs(readable)
	return r, nil
}

// storedSums returns the artifact digests of a stored manifest, or none
// when it cannot be read.
func storedSums(raw []byte) []string {
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil
	}
	e := entry{manifest: m}
	return e.blobSums()
}

// cleanBlobs removes half-written files, and, when every plugin's
// manifest could be read, blobs no plugin uses (left by a crash between
// storing files and recording the plugin).
func (r *Registry) cleanBlobs(all bool) {
	sums, temps, err := r.blobs.list()
	if err != nil {
		r.log.Warn("listing plugin files", "dir", r.blobs.dir, "err", err)
		return
	}
	for _, t := range temps {
		if err := os.Remove(filepath.Join(r.blobs.dir, t)); err != nil {
			r.log.Warn("removing a half-written plugin file", "file", t, "err", err)
		}
	}
	if !all {
		return
	}
	used := r.usedBlobsLocked("")
	for _, s := range sums {
		if used[s] {
			continue
		}
		if err := r.blobs.remove(s); err != nil {
			r.log.Warn("removing an unused plugin file", "sha256", s, "err", err)
		}
	}
}

// usedBlobsLocked returns the digests the plugins other than except use.
// r.mu must be held, or r not yet shared.
func (r *Registry) usedBlobsLocked(except string) map[string]bool {
	used := make(map[string]bool)
	for name, e := range r.plugins {
		if name == except {
			continue
		}
		for _, s := range e.blobSums() {
			used[s] = true
		}
	}
	return used
}
