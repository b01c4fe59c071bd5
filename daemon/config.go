// Package daemon assembles volantd: it opens the state directory and wires
// the store, image, driver, network, engine and the REST and MCP adapters.
package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor/drivers"
	"github.com/volant-sh/volant/sandbox"
)

// Config is volantd's configuration. Zero fields take the defaults of
// Defaults(); Load layers a JSON file and VOLANT_* environment variables.
type Config struct {
	// Listen is the REST+MCP address; default 127.0.0.1:7777.
	Listen string `json:"listen"`
	// StateDir holds the database, images, VMs, snapshots and the token.
	StateDir string `json:"state_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level"`
	// Accel is the QEMU accelerator: auto, kvm or tcg.
	Accel string `json:"accel"`
	// Driver is the hypervisor driver: auto (Cloud Hypervisor where its
	// binary exists and KVM works, else QEMU), qemu or cloud-hypervisor.
	Driver string `json:"driver"`
	// Subnet is the bridge network's pool; the first address is the gateway.
	Subnet string `json:"subnet"`
	// Bridge is the bridge's name.
	Bridge string `json:"bridge"`
	// NAT lets bridged guests reach the outside through the host.
	NAT bool `json:"nat"`
	// AllowGuestToGuest turns off bridge port isolation.
	AllowGuestToGuest bool `json:"allow_guest_to_guest"`
	// AllowUserNetwork lets callers choose network "user" on a daemon with
	// bridge networking. Off by default: a user-mode guest is outside the
	// bridge's firewall and egress policy and reaches the host's loopback
	// services (docs/security.md). Without a bridge, user mode is always
	// offered.
	AllowUserNetwork bool `json:"allow_user_network"`
	// DefaultNetwork is bridge, user or none; default bridge as root, else user.
	DefaultNetwork string `json:"default_network"`
	// DefaultVCPUs and DefaultMemoryMiB size sandboxes that do not say.
	DefaultVCPUs     int `json:"default_vcpus"`
	DefaultMemoryMiB int `json:"default_memory_mib"`
	// CPUOvercommit and MemoryOvercommit multiply the host's CPUs and
	// memory (less the headroom) to make the budget of configured vCPUs
	// and guest memory. The CPU default, 32, suits idle agent sandboxes:
	// an idle guest costs about 3% of a core, so 32 of them about one.
	// Memory is also admitted by what the VMMs really use (measured
	// PSS); the configured bound keeps guests that all wake at once
	// within twice the host.
	CPUOvercommit    float64 `json:"cpu_overcommit"`
	MemoryOvercommit float64 `json:"memory_overcommit"`
	// ReservedMemoryMiB is the headroom kept for the host: the VMMs'
	// measured PSS plus the creates in flight may use the rest.
	ReservedMemoryMiB int `json:"reserved_memory_mib"`
	// TLSCert and TLSKey enable TLS when both are set.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// KestrelPath is the static agent binary for image builds; default
	// "kestrel" next to the volantd executable.
	KestrelPath string `json:"kestrel_path"`
	// ImageDir caches guest images and kernel packages; default
	// STATE_DIR/images.
	ImageDir string `json:"image_dir"`
	// ImageImportDirs are the host directories images may be imported
	// from by path (POST /v1/images {"path"}); empty allows none.
	ImageImportDirs []string `json:"image_import_dirs"`
	// ImageTrustedKeys are PEM public key files; when set, every image
	// pulled from a registry must carry a cosign signature by one of them.
	ImageTrustedKeys []string `json:"image_trusted_keys"`
	// BridgeNetwork sets up the bridge, firewall and address pool (root
	// only); default true as root. Without it only user and none
	// networking are offered.
	BridgeNetwork bool `json:"bridge_network"`
	// Templates makes a template snapshot per runtime and size after the
	// first healthy boot and restores creates from it; default true.
	Templates bool `json:"templates"`
	// PluginDirs are the host directories plugin artifacts may be taken
	// from (a manifest's artifacts[].source); symlinks leading out of them
	// are refused. Empty: artifacts come only inline or from public URLs.
	PluginDirs []string `json:"plugin_dirs"`
	// PluginTrustedKeys are PEM public key files; when set, every plugin's
	// artifacts and rootfs must be signed by one of them (cosign-style),
	// whatever key a manifest names.
	PluginTrustedKeys []string `json:"plugin_trusted_keys"`
	// AllowedHosts are the Host (and Origin) names the API answers besides
	// localhost and loopback addresses, against DNS rebinding: on a
	// non-loopback listener, give the names clients use.
	AllowedHosts []string `json:"allowed_hosts"`
	// WarmPool keeps this many guests per template restored and warmed up
	// ahead of time, so creates only give one its identity; default 2.
	WarmPool int `json:"warm_pool"`
	// MaxTemplates is how many template snapshots (one per runtime,
	// image and size) are kept; past it the least recently used one is
	// removed. Default 8.
	MaxTemplates int `json:"max_templates"`
	// TemplateDiskMiB is the disk all template snapshots may take
	// together; past it the least recently used ones are removed.
	// Default 2048.
	TemplateDiskMiB int64 `json:"template_disk_mib"`
	// Egress is the egress policy enforcement of bridged sandboxes.
	Egress EgressConfig `json:"egress"`
}

// Defaults returns the safe defaults: loopback, a root-or-user state dir.
func Defaults() Config {
	c := Config{
		Listen:            "127.0.0.1:7777",
		LogLevel:          "info",
		Accel:             "auto",
		Driver:            "auto",
		Subnet:            "10.88.0.0/16",
		Bridge:            "volant0",
		DefaultVCPUs:      1,
		DefaultMemoryMiB:  256,
		CPUOvercommit:     32,
		MemoryOvercommit:  2,
		ReservedMemoryMiB: 1024,
		Templates:         true,
		WarmPool:          2,
		MaxTemplates:      sandbox.DefaultMaxTemplates,
		TemplateDiskMiB:   sandbox.DefaultTemplateDiskMiB,
	}
	if os.Geteuid() == 0 {
		c.StateDir = "/var/lib/volant"
		c.DefaultNetwork = "bridge"
		c.BridgeNetwork = true
	} else {
		c.DefaultNetwork = "user"
		if d, err := os.UserHomeDir(); err == nil {
			c.StateDir = filepath.Join(d, ".local", "share", "volant")
		}
		if x := os.Getenv("XDG_DATA_HOME"); x != "" {
			c.StateDir = filepath.Join(x, "volant")
		}
	}
	if exe, err := os.Executable(); err == nil {
		c.KestrelPath = filepath.Join(filepath.Dir(exe), "kestrel")
	}
	return c
}

// LoadFile overlays the JSON config file at path onto c.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return errdefs.Invalid("config file %s: %v", path, err)
	}
	return nil
}

// LoadEnv overlays VOLANT_* environment variables onto c.
func (c *Config) LoadEnv() error {
	str := map[string]*string{
		"VOLANT_LISTEN": &c.Listen, "VOLANT_STATE_DIR": &c.StateDir, "VOLANT_LOG_LEVEL": &c.LogLevel,
		"VOLANT_ACCEL": &c.Accel, "VOLANT_DRIVER": &c.Driver, "VOLANT_SUBNET": &c.Subnet, "VOLANT_BRIDGE": &c.Bridge,
		"VOLANT_DEFAULT_NETWORK": &c.DefaultNetwork, "VOLANT_TLS_CERT": &c.TLSCert,
		"VOLANT_TLS_KEY": &c.TLSKey, "VOLANT_KESTREL": &c.KestrelPath, "VOLANT_IMAGE_DIR": &c.ImageDir,
	}
	for k, p := range str {
		if v, ok := os.LookupEnv(k); ok {
			*p = v
		}
	}
	if v, ok := os.LookupEnv("VOLANT_WARM_POOL"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errdefs.Invalid("VOLANT_WARM_POOL=%q: use a whole number", v)
		}
		c.WarmPool = n
	}
	if v, ok := os.LookupEnv("VOLANT_PLUGIN_DIRS"); ok {
		c.PluginDirs = filepath.SplitList(v) // colon-separated, like PATH
	}
	if v, ok := os.LookupEnv("VOLANT_ALLOWED_HOSTS"); ok {
		c.AllowedHosts = strings.Split(v, ",")
	}
	for k, p := range map[string]*bool{"VOLANT_NAT": &c.NAT, "VOLANT_BRIDGE_NETWORK": &c.BridgeNetwork, "VOLANT_TEMPLATES": &c.Templates,
		"VOLANT_ALLOW_USER_NETWORK": &c.AllowUserNetwork} {
		if v, ok := os.LookupEnv(k); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errdefs.Invalid("%s=%q: use true or false", k, v)
			}
			*p = b
		}
	}
	return nil
}

// Validate reports the first thing wrong with c, saying how to fix it.
func (c *Config) Validate() error {
	if err := c.Egress.validate(c.BridgeNetwork); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return errdefs.Invalid("listen %q: use host:port, e.g. 127.0.0.1:7777", c.Listen)
	}
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		return errdefs.Invalid("state dir %q: must be an absolute path (--state-dir)", c.StateDir)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return errdefs.Invalid("log level %q: use debug, info, warn or error", c.LogLevel)
	}
	switch c.Accel {
	case "auto", "kvm", "tcg":
	default:
		return errdefs.Invalid("accel %q: use auto, kvm or tcg", c.Accel)
	}
	if err := drivers.Valid(c.Driver); err != nil {
		return fmt.Errorf("%w (--driver, VOLANT_DRIVER)", err)
	}
	p, err := netip.ParsePrefix(c.Subnet)
	if err != nil || !p.Addr().Is4() || p.Bits() > 29 || p.Bits() < 8 {
		return errdefs.Invalid("subnet %q: use an IPv4 prefix between /8 and /29, e.g. 10.88.0.0/16", c.Subnet)
	}
	if len(c.Bridge) == 0 || len(c.Bridge) > 15 {
		return errdefs.Invalid("bridge %q: a name of 1-15 characters", c.Bridge)
	}
	switch c.DefaultNetwork {
	case "bridge", "user", "none":
	default:
		return errdefs.Invalid("default network %q: use bridge, user or none", c.DefaultNetwork)
	}
	if c.DefaultNetwork == "bridge" && !c.BridgeNetwork {
		return errdefs.Invalid("default network bridge needs bridge_network on (it needs root); set default_network to user")
	}
	if c.ImageDir != "" && !filepath.IsAbs(c.ImageDir) {
		return errdefs.Invalid("image dir %q: must be an absolute path", c.ImageDir)
	}
	for _, p := range append(append([]string{}, c.ImageImportDirs...), c.ImageTrustedKeys...) {
		if !filepath.IsAbs(p) {
			return errdefs.Invalid("image_import_dirs / image_trusted_keys: %q must be an absolute path", p)
		}
	}
	if c.DefaultVCPUs < 1 || c.DefaultMemoryMiB < 128 {
		return errdefs.Invalid("default size %d vcpu / %d MiB: at least 1 vcpu and 128 MiB", c.DefaultVCPUs, c.DefaultMemoryMiB)
	}
	if c.CPUOvercommit < 1 || c.MemoryOvercommit < 1 {
		return errdefs.Invalid("overcommit must be at least 1 (got cpu %g, memory %g)", c.CPUOvercommit, c.MemoryOvercommit)
	}
	if c.WarmPool < 0 || c.WarmPool > 16 {
		return errdefs.Invalid("warm_pool %d: between 0 (off) and 16", c.WarmPool)
	}
	if c.MaxTemplates < 1 || c.MaxTemplates > 1024 {
		return errdefs.Invalid("max_templates %d: between 1 and 1024 (turn templates off with templates: false)", c.MaxTemplates)
	}
	if c.TemplateDiskMiB < 64 || c.TemplateDiskMiB > 1<<30 {
		return errdefs.Invalid("template_disk_mib %d: between 64 and 1073741824", c.TemplateDiskMiB)
	}
	for _, d := range c.PluginDirs {
		if !filepath.IsAbs(d) {
			return errdefs.Invalid("plugin_dirs %q: give absolute paths", d)
		}
	}
	for _, p := range c.PluginTrustedKeys {
		if !filepath.IsAbs(p) {
			return errdefs.Invalid("plugin_trusted_keys %q: give absolute paths", p)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errdefs.Invalid("tls: give both tls_cert and tls_key, or neither")
	}
	return nil
}

// Images is the directory of guest images: ImageDir, or STATE_DIR/images.
func (c *Config) Images() string {
	if c.ImageDir != "" {
		return c.ImageDir
	}
	return filepath.Join(c.StateDir, "images")
}
