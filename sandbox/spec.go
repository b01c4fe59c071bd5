package sandbox

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// NetworkMode is how a sandbox's interface reaches the world.
type NetworkMode string

// The network modes.
const (
	// NetworkBridge gives the sandbox a tap on the host bridge and an address
	// from the pool; guests are isolated from each other and from the host.
	NetworkBridge NetworkMode = "bridge"
	// NetworkUser uses the VMM's user-mode stack (outbound only; needs no root).
	NetworkUser NetworkMode = "user"
	// NetworkNone gives the sandbox no network interface.
	NetworkNone NetworkMode = "none"
)

// Spec is what a caller asks for when creating a sandbox. It is the one
// create request: REST and MCP bind it as it is (the doc, pattern and
// jsonschema tags document it there), and Validate is its only check.
type Spec struct {
	// Name is an optional unique name (DNS label).
	Name string `json:"name,omitempty" maxLength:"63" pattern:"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$" doc:"Optional unique name (DNS label)." jsonschema:"optional unique name: 1-63 lowercase letters, digits and '-'"`
	// Runtime names the runtime the sandbox runs; empty means DefaultRuntime.
	Runtime string `json:"runtime,omitempty" maxLength:"64" pattern:"^[a-z0-9][a-z0-9._-]*$" doc:"Runtime to run; empty means \"default\"." jsonschema:"runtime to run; empty means the built-in default runtime"`
	// VCPUs and MemoryMiB size the guest; 0 means the configured defaults.
	VCPUs     int `json:"vcpus,omitempty" minimum:"0" maximum:"256" doc:"Virtual CPUs; 0 means the configured default." jsonschema:"virtual CPUs; 0 means the configured default"`
	MemoryMiB int `json:"memory_mib,omitempty" minimum:"0" maximum:"1048576" doc:"Guest memory in MiB (at least 128); 0 means the configured default." jsonschema:"guest memory in MiB (at least 128); 0 means the configured default"`
	// DiskMiB sizes a scratch disk mounted at /data; 0 means none.
	DiskMiB int `json:"disk_mib,omitempty" minimum:"0" maximum:"16777216" doc:"Size of a scratch disk mounted at /data; 0 means none." jsonschema:"size of a scratch disk mounted at /data in MiB; 0 means none"`
	// Network is the network mode; empty means the configured default.
	Network NetworkMode `json:"network,omitempty" enum:"bridge,user,none" doc:"Network mode; empty means the configured default." jsonschema:"network mode: bridge, user (outbound only) or none; empty means the configured default"`
	// Env is added to every command's environment.
	Env map[string]string `json:"env,omitempty" doc:"Environment added to every command." jsonschema:"environment variables added to every command"`
	// Labels are free key/value pairs to filter on.
	Labels map[string]string `json:"labels,omitempty" doc:"Free key/value pairs to filter on." jsonschema:"free key/value labels to filter sandbox_list on"`
	// TTLSeconds deletes the sandbox this long after creation; 0 means never.
	TTLSeconds int `json:"ttl_s,omitempty" minimum:"0" doc:"Delete the sandbox this many seconds after creation; 0 means never." jsonschema:"delete the sandbox this many seconds after creation; 0 means never"`
	// IdleTimeoutSeconds hibernates the sandbox after this long without
	// API activity (the next request wakes it), or stops it when the
	// driver cannot snapshot; 0 means never.
	IdleTimeoutSeconds int `json:"idle_timeout_s,omitempty" minimum:"0" doc:"Hibernate the sandbox after this many seconds without API activity (the next request wakes it; stop when the driver cannot snapshot); 0 means never." jsonschema:"hibernate the sandbox after this many seconds without activity (the next request wakes it); 0 means never"`
	// FromSnapshot restores the sandbox from this snapshot id.
	FromSnapshot string `json:"from_snapshot,omitempty" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Restore from this snapshot id." jsonschema:"restore from this snapshot id (see snapshot_list)"`
	// ColdBoot forces a cold boot even when a template snapshot exists.
	ColdBoot bool `json:"cold_boot,omitempty" doc:"Boot cold even when the runtime has a template snapshot." jsonschema:"boot from scratch even when a template snapshot exists"`
	// Egress says where the sandbox may connect (bridge mode only); nil
	// means the operator's default. See egress.go.
	Egress *EgressPolicy `json:"egress,omitempty" doc:"Where the sandbox may connect (bridge network only); absent means the operator's default." jsonschema:"egress policy: where the sandbox may connect (bridge network only); absent means the operator's default"`
	// Secrets maps environment variable names to secrets: the guest gets
	// a placeholder, the egress proxy sends the value to the secret's
	// hosts only (bridge mode only). See secrets.go.
	Secrets map[string]SecretRef `json:"secrets,omitempty" doc:"Environment variables whose values are secrets: the guest sees a placeholder, the egress proxy sends the value to the secret's hosts only." jsonschema:"secrets by environment variable: the guest sees a placeholder that the egress proxy replaces for the secret's hosts only"`
	// Image is the OCI image (a reference or a digest) whose root file
	// system the sandbox runs in; empty means none: the runtime's own
	// guest (busybox in the initramfs).
	Image string `json:"image,omitempty" maxLength:"512" doc:"OCI image (a reference, name or digest) whose root file system the sandbox runs in; pulled first if needed. Empty: the runtime's own busybox guest." jsonschema:"OCI image (reference, name such as debian, or digest) to run the sandbox in; pulled first if needed"`

	// image is Image resolved (images.go); set by Create.
	image *ImageRootFS
}

// DefaultRuntime is the runtime of the built-in guest image.
const DefaultRuntime = "default"

// Limits bound what a Spec may ask for.
type Limits struct {
	MaxVCPUs     int
	MaxMemoryMiB int
	MaxDiskMiB   int
	MaxTTL       int
}

// DefaultLimits are the limits of a Manager whose Config sets none.
var DefaultLimits = Limits{MaxVCPUs: 16, MaxMemoryMiB: 64 * 1024, MaxDiskMiB: 1024 * 1024, MaxTTL: 30 * 24 * 3600}

var (
	runtimeRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	nameRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$`)
	envKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate reports the first thing wrong with s, saying how to fix it.
func (s Spec) Validate(l Limits) error {
	if s.Name != "" && !nameRE.MatchString(s.Name) {
		return errdefs.Invalid("name %q: use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit", clip(s.Name))
	}
	if s.Runtime != "" && !runtimeRE.MatchString(s.Runtime) {
		return errdefs.Invalid("runtime %q: runtimes are 1-64 lowercase letters, digits, '.', '_' and '-'; list the plugins to see them", clip(s.Runtime))
	}
	if s.VCPUs < 0 || (l.MaxVCPUs > 0 && s.VCPUs > l.MaxVCPUs) {
		return errdefs.Invalid("vcpus %d: %s", s.VCPUs, between(1, l.MaxVCPUs))
	}
	if s.MemoryMiB < 0 || s.MemoryMiB != 0 && (s.MemoryMiB < 128 || (l.MaxMemoryMiB > 0 && s.MemoryMiB > l.MaxMemoryMiB)) {
		return errdefs.Invalid("memory_mib %d: %s", s.MemoryMiB, between(128, l.MaxMemoryMiB))
	}
	if s.DiskMiB < 0 || (l.MaxDiskMiB > 0 && s.DiskMiB > l.MaxDiskMiB) {
		return errdefs.Invalid("disk_mib %d: %s", s.DiskMiB, between(0, l.MaxDiskMiB))
	}
	switch s.Network {
	case "", NetworkBridge, NetworkUser, NetworkNone:
	default:
		return errdefs.Invalid("network %q: use bridge, user or none", clip(string(s.Network)))
	}
	maxTTL := MaxDurationSeconds
	if l.MaxTTL > 0 {
		maxTTL = min(maxTTL, l.MaxTTL)
	}
	if s.TTLSeconds < 0 || s.TTLSeconds > maxTTL {
		return errdefs.Invalid("ttl_s %d: must be between 0 (no limit) and %d", s.TTLSeconds, maxTTL)
	}
	if err := validateSeconds("idle_timeout_s", int64(s.IdleTimeoutSeconds), "no limit"); err != nil {
		return err
	}
	if len(s.Env) > 256 {
		return errdefs.Invalid("env: at most 256 variables, got %d", len(s.Env))
	}
	for _, k := range sortedKeys(s.Env) {
		if !envKeyRE.MatchString(k) {
			return errdefs.Invalid("env %q: names are letters, digits and '_', not starting with a digit", k)
		}
		if strings.ContainsRune(s.Env[k], 0) {
			return errdefs.Invalid("env %q: value contains a NUL byte", k)
		}
	}
	if len(s.Labels) > 64 {
		return errdefs.Invalid("labels: at most 64, got %d", len(s.Labels))
	}
	for _, k := range sortedKeys(s.Labels) {
		if !labelKeyRE.MatchString(k) {
			return errdefs.Invalid("label key %q: 1-64 letters, digits, '.', '_', '/', '-'", k)
		}
		if len(s.Labels[k]) > 256 {
			return errdefs.Invalid("label %q: value longer than 256 bytes", k)
		}
	}
	if s.Egress != nil {
		if err := s.Egress.Validate(); err != nil {
			return err
		}
	}
	if err := validateSecrets(s); err != nil {
		return err
	}
	if err := checkImageRef(s.Image); err != nil {
		return err
	}
	if s.FromSnapshot != "" {
		if err := validateRef("from_snapshot", s.FromSnapshot); err != nil {
			return err
		}
	}
	if s.FromSnapshot != "" && s.ColdBoot {
		return errdefs.Invalid("from_snapshot and cold_boot exclude each other: pass one")
	}
	return nil
}

// between says what a bounded number must be; max 0 means no upper limit.
func between(lo, max int) string {
	if max <= 0 {
		return fmt.Sprintf("must be at least %d", lo)
	}
	return fmt.Sprintf("must be between %d and %d", lo, max)
}

// withDefaults fills unset fields from d.
func (s Spec) withDefaults(d Defaults) Spec {
	if s.Runtime == "" {
		s.Runtime = DefaultRuntime
	}
	if s.VCPUs == 0 {
		s.VCPUs = d.VCPUs
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = d.MemoryMiB
	}
	if s.Network == "" {
		s.Network = d.Network
	}
	return s
}

// Defaults are used for fields a Spec leaves unset.
type Defaults struct {
	VCPUs     int         `json:"vcpus"`
	MemoryMiB int         `json:"memory_mib"`
	Network   NetworkMode `json:"network"`
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// String is for logs.
func (s Spec) String() string {
	return fmt.Sprintf("%s %dvcpu %dMiB net=%s", s.Runtime, s.VCPUs, s.MemoryMiB, s.Network)
}
