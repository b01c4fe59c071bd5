package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/hypervisor/drivers"
	"github.com/volant-sh/volant/image"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/ipam"
	"github.com/volant-sh/volant/mcp"
	"github.com/volant-sh/volant/network"
	"github.com/volant-sh/volant/network/egress"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/store"
)

// Version is volantd's version, set at link time.
var Version = "dev"

// Files in the state directory.
const (
	lockFile   = "volantd.lock"
	socketFile = "volantd.sock"
	tokenFile  = "token"
	// portKeyFile signs guest port URLs (auth.LoadPortKey).
	portKeyFile = "port.key"
	dbFile      = "volant.db"
)

// Daemon is one volantd: the engine of a state directory and its APIs.
type Daemon struct {
	cfg Config
	log *slog.Logger

	lock  *os.File
	store *store.Store
	bus   *events.Bus
	net   *network.Manager
	mgr   *sandbox.Manager
	auth  *auth.Auth
	mcp   *mcp.Server
	// plugins is the runtime plugin registry; unsub stops the engine
	// following its changes.
	plugins *plugins.Registry
	unsub   func()
	// images is the OCI image store; imageAPI the engine's image resource.
	images   *oci.Store
	imageAPI *sandbox.ImageService
	handle   http.Handler

	// egress is the resolver and proxy of bridged sandboxes (egress.go).
	egress *egress.Service
	// stopPerms ends the watch that secures new snapshots' files.
	stopPerms func()

	closeOnce sync.Once
}

// New opens the state directory (taking its lock), builds or finds the
// guest image, and starts the engine. It recovers sandboxes left by an
// earlier daemon.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	d := &Daemon{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.lock, err = lockStateDir(ctx, cfg.StateDir, log); err != nil {
		return nil, err
	}
	if d.store, err = store.Open(ctx, filepath.Join(cfg.StateDir, dbFile)); err != nil {
		return nil, err
	}
	if err := secureStateDir(cfg.StateDir, log); err != nil {
		return nil, fmt.Errorf("securing the state dir: %w", err)
	}
	if d.bus, err = events.New(ctx, d.store, nil); err != nil {
		return nil, err
	}
	d.stopPerms = d.watchSnapshots()
	if err := d.openImages(); err != nil {
		return nil, err
	}
	img, err := d.ensureImage(ctx)
	if err != nil {
		return nil, err
	}
	driver, driverWhy, err := drivers.Open(ctx, cfg.Driver, drivers.Options{StateDir: cfg.StateDir, Accel: cfg.Accel, Kernel: img.Kernel, Logger: log})
	if err != nil {
		return nil, err
	}
	defaultNet := sandbox.NetworkMode(cfg.DefaultNetwork)
	if defaultNet == sandbox.NetworkUser && !driver.Capabilities().UserNet {
		// The engine picks bridge (when on) or none instead.
		log.Warn("the driver has no user-mode networking; sandboxes default to another network", "driver", driver.Name())
		defaultNet = ""
	}

	// The registry asks the engine, made below, whether a plugin's
	// runtime is in use before disabling or removing it.
	inUse := func(ctx context.Context, name string) (int, error) {
		if d.mgr == nil {
			return 0, nil
		}
		return d.mgr.RuntimeInUse(ctx, name)
	}
	pluginKeys, err := readKeys("plugin_trusted_keys", cfg.PluginTrustedKeys)
	if err != nil {
		return nil, err
	}
	if d.plugins, err = plugins.Open(ctx, plugins.Config{
		Store: d.store, Dir: filepath.Join(cfg.StateDir, "plugins"), Events: d.bus, InUse: inUse, Logger: log,
		SourceDirs: cfg.PluginDirs, TrustedKeys: pluginKeys, Images: pluginImages{d.images},
		Builder:    pluginBuilder{s: d.images, dir: cfg.Images(), log: log},
		HostLimits: pluginLimits(cfg),
	}); err != nil {
		return nil, fmt.Errorf("opening the plugin registry: %w", err)
	}

	budgetCap, host := budget(cfg)
	mcfg := sandbox.Config{
		StateDir: cfg.StateDir, Store: d.store, Driver: driver, DriverReason: driverWhy, Events: d.bus,
		Runtimes:  []sandbox.Runtime{{Name: sandbox.DefaultRuntime, Kernel: img.Kernel, Initramfs: img.Initramfs, ImageDigest: img.Digest}},
		Defaults:  sandbox.Defaults{VCPUs: cfg.DefaultVCPUs, MemoryMiB: cfg.DefaultMemoryMiB, Network: defaultNet},
		Budget:    budgetCap,
		Host:      host,
		Plugins:   d.plugins,
		Images:    ociImages{d.images},
		Templates: cfg.Templates,
		WarmPool:  cfg.WarmPool,
		// A user-mode guest bypasses the bridge's firewall: refused on
		// a bridge daemon unless the operator allows it.
		AllowUserNetwork: cfg.AllowUserNetwork,
		Version:          Version,
		Logger:           log,
	}
	mcfg.TemplateLimits = sandbox.TemplateLimits{MaxTemplates: cfg.MaxTemplates, DiskMiB: cfg.TemplateDiskMiB}
	if cfg.BridgeNetwork {
		if os.Geteuid() != 0 {
			return nil, errdefs.Invalid("bridge networking needs root; run as root or turn bridge_network off (VOLANT_BRIDGE_NETWORK=false)")
		}
		if err := d.setupNetwork(ctx, &mcfg); err != nil {
			return nil, err
		}
	}
	if d.mgr, err = sandbox.New(ctx, mcfg); err != nil {
		return nil, err
	}
	// Templates of a plugin that changed or went away are dropped.
	d.unsub = d.plugins.Subscribe(func() { d.mgr.PluginsChanged(context.Background()) })
	d.auth = auth.New(tokenStore{d.store}, log)
	if _, created, err := d.auth.EnsureAdminToken(ctx, filepath.Join(cfg.StateDir, tokenFile)); err != nil {
		return nil, err
	} else if created {
		log.Info("wrote admin token", "path", filepath.Join(cfg.StateDir, tokenFile))
	}
	d.mcp = mcp.New(mcp.Options{Manager: d.mgr, Plugins: d.plugins, Images: d.imageAPI, Events: changeFeed(d.bus), Logger: log, Version: Version})
	d.handle = d.routes()
	return d, nil
}

// routes mounts REST, MCP (streamable HTTP at /mcp, SSE at /sse) on one handler.
func (d *Daemon) routes() http.Handler {
	// Guest ports have origins of their own (rest/guestorigin.go), signed
	// with a key that outlives restarts.
	key, err := auth.LoadPortKey(filepath.Join(d.cfg.StateDir, portKeyFile))
	if err != nil {
		d.log.Warn("no port key; signed port URLs will not outlive this process", "err", err)
	}
	_, listenPort, _ := net.SplitHostPort(d.cfg.Listen)
	api := rest.New(rest.Options{Manager: d.mgr, Plugins: d.plugins, Images: d.imageAPI, Auth: d.auth, Events: d.bus, Logger: d.log, Version: Version,
		PortKey: key, GuestPort: listenPort})
	mux := http.NewServeMux()
	mux.Handle("/mcp", d.auth.Middleware(d.mcp.Handler()))
	mux.Handle("/mcp/", d.auth.Middleware(d.mcp.Handler()))
	mux.Handle("/sse", d.auth.Middleware(d.mcp.SSEHandler()))
	mux.Handle("/sse/", d.auth.Middleware(d.mcp.SSEHandler()))
	mux.Handle("/", api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest.IsGuestHost(r.Host) {
			api.ServeHTTP(w, r) // a guest origin: every path is the guest's, /mcp included
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Handler is the daemon's HTTP handler (REST and MCP).
func (d *Daemon) Handler() http.Handler { return d.handle }

// Manager is the daemon's engine.
func (d *Daemon) Manager() *sandbox.Manager { return d.mgr }

// MCP is the daemon's MCP server.
func (d *Daemon) MCP() *mcp.Server { return d.mcp }

// setupNetwork prepares the bridge, firewall and address pool.
func (d *Daemon) setupNetwork(ctx context.Context, mcfg *sandbox.Config) error {
	prefix := netip.MustParsePrefix(d.cfg.Subnet).Masked()
	ports := []uint16{}
	if _, p, err := net.SplitHostPort(d.cfg.Listen); err == nil {
		if n, err := strconv.Atoi(p); err == nil && n > 0 {
			ports = append(ports, uint16(n))
		}
	}
	ncfg := network.Config{
		Bridge: d.cfg.Bridge, Subnet: prefix, NAT: d.cfg.NAT,
		AllowGuestToGuest: d.cfg.AllowGuestToGuest, ProtectedPorts: ports,
	}
	if d.cfg.Egress.Enabled {
		ncfg.EgressProxyPort = d.cfg.Egress.proxyPort()
	}
	nm, err := network.New(ncfg, network.WithLogger(d.log))
	if err != nil {
		return err
	}
	d.net = nm
	if err := nm.EnsureBridge(ctx); err != nil {
		return fmt.Errorf("setting up bridge %s: %w", d.cfg.Bridge, err)
	}
	if err := nm.EnsureFirewall(ctx); err != nil {
		return fmt.Errorf("setting up firewall: %w", err)
	}
	pool, err := ipam.New(ctx, d.store, "default", prefix)
	if err != nil {
		return err
	}
	mcfg.Network, mcfg.Addresses = nm, pool
	if d.cfg.Egress.Enabled {
		return d.startEgress(nm.Config().Gateway(), prefix, mcfg)
	}
	return nil
}

// ensureImage builds the default guest image, or finds the one built
// last when no kestrel binary is at hand.
func (d *Daemon) ensureImage(ctx context.Context) (*image.Image, error) {
	dir := d.cfg.Images()
	if _, err := os.Stat(d.cfg.KestrelPath); err != nil {
		img, cerr := image.Current(dir)
		if cerr != nil {
			return nil, errdefs.Unavailable("no guest image in %s and no kestrel binary at %q to build one: run `make image` or pass --kestrel", dir, d.cfg.KestrelPath)
		}
		d.log.Warn("kestrel binary not found; using the last built image", "kestrel", d.cfg.KestrelPath, "image", img.Digest)
		return img, nil
	}
	start := time.Now()
	img, err := image.Build(ctx, image.Options{Dir: dir, KestrelPath: d.cfg.KestrelPath, Logger: d.log})
	if err != nil {
		return nil, fmt.Errorf("building the guest image: %w", err)
	}
	d.log.Info("guest image ready", "digest", img.Digest[:12], "kernel", img.KernelRelease, "took", time.Since(start).Round(time.Millisecond))
	return img, nil
}

// budget is the admission budget: configured vCPUs against host CPUs times
// cpu_overcommit, configured memory against the host's memory minus the
// headroom times memory_overcommit; and the host's size, with which the
// engine also admits memory by the VMMs' measured PSS.
func budget(cfg Config) (sandbox.Capacity, sandbox.HostSize) {
	var si unix.Sysinfo_t
	hostMiB := 0
	if unix.Sysinfo(&si) == nil {
		hostMiB = int(uint64(si.Totalram) * uint64(si.Unit) >> 20)
	}
	memMiB := max(hostMiB-cfg.ReservedMemoryMiB, 256)
	host := sandbox.HostSize{CPUs: runtime.NumCPU(), MemoryMiB: hostMiB, HeadroomMiB: cfg.ReservedMemoryMiB}
	return sandbox.Capacity{
		VCPUs:     int(float64(host.CPUs) * cfg.CPUOvercommit),
		MemoryMiB: int(float64(memMiB) * cfg.MemoryOvercommit),
	}, host
}

// pluginLimits is the largest sandbox this daemon gives: the engine's
// limits capped by the host's admission budget. A plugin declaring more is
// refused at install, since none of its creates could succeed.
func pluginLimits(cfg Config) plugins.HostLimits {
	b, _ := budget(cfg)
	l := sandbox.DefaultLimits
	return plugins.HostLimits{VCPUs: min(b.VCPUs, l.MaxVCPUs), MemoryMiB: min(b.MemoryMiB, l.MaxMemoryMiB)}
}

// SocketPath is the unix socket a daemon serves its API on, in dir.
func SocketPath(dir string) string { return filepath.Join(dir, socketFile) }

// TokenPath is the admin token file in dir.
func TokenPath(dir string) string { return filepath.Join(dir, tokenFile) }

// Close stops the engine without stopping sandboxes (a restarted daemon
// adopts them) and releases the state directory. Idempotent.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		if d.unsub != nil {
			d.unsub()
		}
		if d.mcp != nil {
			_ = d.mcp.Close()
		}
		if d.mgr != nil {
			_ = d.mgr.Close()
		}
		if d.egress != nil {
			_ = d.egress.Close()
		}
		if d.stopPerms != nil {
			d.stopPerms()
		}
		if d.net != nil {
			_ = d.net.Close()
		}
		if d.bus != nil {
			_ = d.bus.Close()
		}
		if d.store != nil {
			_ = d.store.Close()
		}
		if d.lock != nil {
			unlockStateDir(d.cfg.StateDir, d.lock)
		}
	})
	return nil
}
