package plugins

import (
	"time"
)

// Plugin is an installed plugin as the registry reports it.
type Plugin struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	Enabled     bool   `json:"enabled"`
	// Manifest is the manifest as stored: an artifact given with content
	// keeps only its sha256 (its bytes are in the registry's blobs).
	Manifest Manifest `json:"manifest"`
	// Actions are the manifest's actions and those of its OpenAPI
	// document, merged (manifest wins on a name clash).
	Actions     []Action  `json:"actions"`
	InstalledAt time.Time `json:"installed_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Digest is the Runtime's digest (see Runtime.Digest).
	Digest string `json:"digest,omitempty"`
	// Problem, when set, says why the plugin is broken (an artifact is
	// missing or corrupt, say) and what to do; a broken plugin's runtime
	// is unavailable until it is reinstalled.
	Problem string `json:"problem,omitempty"`
}

// Runtime is what the engine needs to start a sandbox of an enabled
// plugin: its workload and the host files of its artifacts, verified.
type Runtime struct {
	Plugin  string
	Version string
	// Digest changes whenever anything the guest gets changes (manifest
	// and artifact contents); templates are keyed by it.
	Digest string
	Files  []File
	// Root is the plugin's root filesystem, or nil for the default
	// guest's.
	Root *RootRuntime
	// Workload is the manifest's, with the defaults of Restart and
	// ReadyTimeoutS filled in; nil when the plugin has none.
	Workload  *Workload
	Actions   []Action
	Resources *Resources
}

// File is an artifact ready to copy into the guest.
type File struct {
	HostPath  string // content-addressed copy in the registry's dir
	GuestPath string
	Mode      uint32
	Size      int64
}

// Registry API (implemented in this package):
//
//	func Open(ctx context.Context, cfg Config) (*Registry, error)
//	func (r *Registry) Install(ctx context.Context, raw []byte) (*Plugin, error)   // enabled on install
//	func (r *Registry) List(ctx context.Context) ([]*Plugin, error)
//	func (r *Registry) Get(ctx context.Context, name string) (*Plugin, error)
//	func (r *Registry) Enable(ctx context.Context, name string) (*Plugin, error)
//	func (r *Registry) Disable(ctx context.Context, name string) (*Plugin, error)
//	func (r *Registry) Remove(ctx context.Context, name string) error
//	func (r *Registry) Runtime(ctx context.Context, name string) (*Runtime, error)
//	func (r *Registry) Action(ctx context.Context, plugin, action string) (*Action, error)
//	func (r *Registry) Subscribe(fn func()) (cancel func())   // called after every change
