package plugins

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/store"
)

// Store is the persistence the registry needs; *store.Store implements it.
type Store interface {
	CreatePlugin(ctx context.Context, p store.Plugin) (store.Plugin, error)
	GetPlugin(ctx context.Context, name string) (store.Plugin, error)
	ListPlugins(ctx context.Context) ([]store.Plugin, error)
	UpdatePlugin(ctx context.Context, p store.Plugin) (store.Plugin, error)
	DeletePlugin(ctx context.Context, name string) error
}

// Publisher records events; *events.Bus implements it.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) (events.Event, error)
}

var (
	_ Store     = (*store.Store)(nil)
	_ Publisher = (*events.Bus)(nil)
)

// Config configures a Registry.
type Config struct {
	// Store keeps the plugin records. Required.
	Store Store
	// Dir is where artifact files are kept (in Dir/blobs, named by their
	// sha256), for example STATE_DIR/plugins. Required.
	Dir string
	// Events receives plugin.installed, .enabled, .disabled and .removed
	// events. Optional.
	Events Publisher
	// InUse says how many sandboxes run the named plugin's runtime,
	// counting creates from before they ask for the runtime;
	// Disable and Remove refuse while it is more than 0. Optional.
	InUse func(ctx context.Context, name string) (int, error)
	// SourceDirs are the host directories whose files artifacts may name
	// in source (the operator's plugin_dirs): a path outside them, or a
	// symlink leading out of them, is refused. Empty: artifacts come only
	// from inline content and http(s) URLs, never from host files.
	SourceDirs []string
	// Logger receives warnings about broken plugins and leftover files.
	// Optional.
	Logger *slog.Logger
	// HostLimits bound the resources a manifest may declare (the largest
	// sandbox the daemon gives); zero fields are not checked.
	HostLimits HostLimits
}

// Validate reports whether the config can open a registry.
func (c *Config) Validate() error {
	if c.Store == nil {
		return errdefs.Invalid("plugin registry config has no store; pass the daemon's store")
	}
	if c.Dir == "" {
		return errdefs.Invalid("plugin registry config has no dir; pass a directory for artifacts, such as STATE_DIR/plugins")
	}
	for _, d := range c.SourceDirs {
		if !filepath.IsAbs(d) {
			return errdefs.Invalid("plugin source dir %q: must be an absolute path", d)
		}
	}
	return nil
}
