package sandbox

import (
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// ListOptions filters and pages List.
type ListOptions struct {
	States  []State
	Runtime string
	Labels  map[string]string
	// Limit is the page size; 0 means 100, at most 1000.
	Limit int
	// Cursor continues after the page that returned it as Next.
	Cursor string
}

// Validate reports what is wrong with o.
func (o ListOptions) Validate() error {
	if o.Limit < 0 || o.Limit > 1000 {
		return errdefs.Invalid("limit %d: must be between 0 (default 100) and 1000", o.Limit)
	}
	for _, s := range o.States {
		if !ValidState(string(s)) {
			return errdefs.Invalid("state %q: use one of creating, running, paused, stopped, failed, deleting", clip(string(s)))
		}
	}
	if o.Runtime != "" && !runtimeRE.MatchString(o.Runtime) {
		return errdefs.Invalid("runtime %q: runtimes are 1-64 lowercase letters, digits, '.', '_' and '-'; list the plugins to see them", clip(o.Runtime))
	}
	if len(o.Labels) > 64 {
		return errdefs.Invalid("labels: at most 64 filters, got %d", len(o.Labels))
	}
	for _, k := range sortedKeys(o.Labels) {
		if !labelKeyRE.MatchString(k) || len(o.Labels[k]) > 256 {
			return errdefs.Invalid("label filter %q: keys are 1-64 letters, digits, '.', '_', '/', '-' and values at most 256 bytes", clip(k))
		}
	}
	if len(o.Cursor) > 512 {
		return errdefs.Invalid("cursor: %d bytes is longer than 512; pass the next of the previous page", len(o.Cursor))
	}
	return nil
}

// ListPage is one page of sandboxes.
type ListPage struct {
	Items []*Sandbox `json:"items"`
	// Next is the cursor of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}

// Snapshot is a saved sandbox: memory, devices and disks at one instant.
type Snapshot struct {
	ID        string `json:"id"`
	SandboxID string `json:"sandbox_id"`
	ParentID  string `json:"parent_id,omitempty"`
	Runtime   string `json:"runtime"`
	Template  bool   `json:"template,omitempty"`
	// ImageDigest is the image the snapshot's guest runs in, if any.
	ImageDigest string    `json:"image_digest,omitempty"`
	SizeBytes   int64     `json:"size_bytes"`
	CreatedAt   time.Time `json:"created_at"`
	// Refs counts what keeps the snapshot alive: child snapshots and
	// sandboxes restored from it.
	Children  int `json:"children"`
	Sandboxes int `json:"sandboxes"`
}

// SystemInfo describes the engine and its host.
type SystemInfo struct {
	Version     string   `json:"version"`
	Driver      string   `json:"driver"`
	Drivers     []string `json:"drivers"`
	Accel       string   `json:"accel"`
	AccelReason string   `json:"accel_reason,omitempty"`
	Image       string   `json:"image,omitempty"`
	Kernel      string   `json:"kernel,omitempty"`
	Capacity    Capacity `json:"capacity"`
	Usage       Capacity `json:"usage"`
	// Host and Measured are the host's size and what sandboxes really
	// use (measured PSS plus creates in flight), as admission counts it.
	Host      HostSize      `json:"host"`
	Measured  MeasuredUsage `json:"measured"`
	Sandboxes int           `json:"sandboxes"`
	// Templates is what template snapshots, template builders and warm
	// guests hold; Usage counts only sandboxes.
	Templates TemplateUsage `json:"templates"`

	// DriverReason says why the daemon runs this driver.
	DriverReason string `json:"driver_reason,omitempty"`
}

// Capacity is a CPU/memory amount.
type Capacity struct {
	VCPUs     int `json:"vcpus"`
	MemoryMiB int `json:"memory_mib"`
}
