package plugins

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/image/oci"
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
	// TrustedKeys are the operator's PEM public keys (their text) for
	// plugins: when set, every artifact and rootfs of every plugin must be
	// signed by one of them, and a manifest's own public_key is not
	// enough. Optional.
	TrustedKeys []string
	// Images pulls the OCI images manifests name as their rootfs (kind
	// oci) at install, checking their signatures when keys are required.
	// Without it such an image is pulled by the first sandbox, and a
	// signed one cannot be required. Optional.
	Images Images
	// Builder builds the images with extra packages manifests name
	// (rootfs kind image with packages) at install. Without it such a
	// manifest is refused. Optional.
	Builder ImageBuilder
	// Logger receives warnings about broken plugins and leftover files.
	// Optional.
	Logger *slog.Logger
	// HostLimits bound the resources a manifest may declare (the largest
	// sandbox the daemon gives); zero fields are not checked.
	HostLimits HostLimits
}

// Images is the image store as the registry needs it; the daemon's OCI
// image store implements it.
type Images interface {
	// Pull fetches ref (pinned by digest) into the store. With keys (PEM
	// public keys) it requires a cosign signature of the image by one of
	// them, and on a missing or bad one keeps nothing.
	Pull(ctx context.Context, ref string, keys []string) error
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
	for i, k := range c.TrustedKeys {
		if _, err := oci.ParsePublicKey(k); err != nil {
			return errdefs.Invalid("trusted plugin key %d: %v", i+1, err)
		}
	}
	return nil
}
