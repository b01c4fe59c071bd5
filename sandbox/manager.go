// Package sandbox is Volant's engine: sandboxes with a persisted lifecycle
// on top of a hypervisor driver, address leases, networking, the event log
// and the guest agent. The REST and MCP adapters are thin layers over it.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/ipam"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/store"
)

// Network is what the engine needs of host networking for bridge mode.
// network.Manager implements it.
type Network interface {
	CreateTap(ctx context.Context, name string) error
	DeleteTap(ctx context.Context, name string) error
	ListTaps(ctx context.Context) ([]string, error)
}

// Addresses hands out guest addresses for bridge mode. ipam.Allocator
// implements it.
type Addresses interface {
	Allocate(ctx context.Context, owner string) (netip.Addr, error)
	ReleaseOwner(ctx context.Context, owner string) (bool, error)
	Lookup(owner string) (netip.Addr, bool)
	Leases() []ipam.Lease
	Gateway() netip.Addr
	Prefix() netip.Prefix
}

// Publisher records events. events.Bus implements it.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) (events.Event, error)
}

// Runtime is what a sandbox runs: a kernel and an initramfs with kestrel.
type Runtime struct {
	Name        string
	Kernel      string
	Initramfs   string
	ImageDigest string
	// Cmdline holds extra kernel arguments for this runtime.
	Cmdline string
	// Plugin, when set, is the runtime plugin this runtime runs on top of
	// the image: its files and workload are set up at each cold boot.
	Plugin *plugins.Runtime
}

// Config wires a Manager. Store, Driver and StateDir are required; without
// Network and Addresses the bridge network mode is refused.
type Config struct {
	StateDir  string
	Store     *store.Store
	Driver    hypervisor.Driver
	Events    Publisher
	Network   Network
	Addresses Addresses
	Runtimes  []Runtime
	// Plugins, when set, adds every enabled runtime plugin as a runtime
	// on the default image.
	Plugins Plugins
	// Images, when set, resolves Spec.Image (the OCI image store); nil
	// refuses creates with an image.
	Images   Images
	Defaults Defaults
	Limits   Limits
	// Budget is the host's admission budget of configured sizes
	// (overcommit included).
	Budget Capacity
	// Host is the host's size and the operator's memory headroom: with
	// Host.MemoryMiB set, memory is also admitted by the measured PSS of
	// the VMMs (see admission.go).
	Host HostSize
	// MemoryDir holds the VMs' RAM files; default /dev/shm/volant-<hash of
	// StateDir> when /dev/shm exists, else STATE_DIR/mem.
	MemoryDir string
	// Templates turns template snapshots on: each runtime and size gets
	// one after its first cold boot, and creates restore from it.
	Templates bool
	// WarmPool keeps this many guests per template restored ahead of
	// time (and warmed up), so a create only gives one its identity.
	WarmPool int
	// AgentGrace is how long past a call's own timeout the engine waits
	// for the agent before it gives up and marks the sandbox (hung.go);
	// 0 is DefaultAgentGrace.
	AgentGrace time.Duration
	// TemplateLimits caps the template snapshots (count and disk).
	TemplateLimits TemplateLimits
	// Egress enforces egress policies and secrets for bridged sandboxes.
	Egress EgressConfig
	// AllowUserNetwork lets callers choose network "user" on a daemon
	// with bridge networking. The VMM's user-mode stack bypasses the
	// bridge's firewall and egress policy and reaches the host's loopback
	// services, so it is refused there unless the operator allows it (or
	// makes it the default network). Without a bridge it is always taken.
	AllowUserNetwork bool
	// BootTimeout bounds boot to agent-ready; default 60 s.
	BootTimeout time.Duration
	Version     string
	Logger      *slog.Logger

	// DriverReason says why the daemon chose this driver, for System.
	DriverReason string
}

// Validate reports what is missing from c.
func (c *Config) Validate() error {
	switch {
	case c.StateDir == "" || !filepath.IsAbs(c.StateDir):
		return errdefs.Invalid("sandbox manager: state dir %q must be an absolute path", c.StateDir)
	case c.Store == nil:
		return errdefs.Invalid("sandbox manager: a store is required")
	case c.Driver == nil:
		return errdefs.Invalid("sandbox manager: a hypervisor driver is required")
	case len(c.Runtimes) == 0:
		return errdefs.Invalid("sandbox manager: at least one runtime (guest image) is required")
	case (c.Network == nil) != (c.Addresses == nil):
		return errdefs.Invalid("sandbox manager: network and addresses go together")
	}
	return nil
}

// Manager owns every sandbox of one state directory.
type Manager struct {
	cfg      Config
	log      *slog.Logger
	runtimes map[string]Runtime

	// life is the daemon's context: VMM watchers and reapers live under
	// it, not under any request's.
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	locks keyedMutex

	// secrets holds secret values (STATE_DIR/secrets, 0700/0600).
	secrets *secretStore
	// freeMiB measures free space for data disks (diskspace.go); nil
	// asks the file system. Tests replace it.
	freeMiB func(dir string) (int64, error)

	mu sync.Mutex
	// vms holds the live VM of each running or paused sandbox.
	vms map[string]*instance
	// reserved is the capacity admitted to sandboxes that hold a VM or
	// are being created.
	reserved map[string]Capacity
	// pss caches the VMMs' measured PSS for admission.
	pss pssCache
	// pending counts the creates under way of each runtime.
	pending map[string]int

	tplMu sync.Mutex
	// tpl holds the ready template of each key (runtime, image, size).
	tpl map[string]*snapshotRef
	// tplBuilding marks keys whose template is being made.
	tplBuilding map[string]bool
	// tplBroken marks keys whose template failed to restore.
	tplBroken map[string]bool
	// warm holds restored, warmed-up guests per template key;
	// warmFilling counts the restores under way per key.
	warm        map[string][]*warmVM
	warmFilling map[string]int
	// tplErr and warmErr hold the last error of making a key's template
	// and of restoring a guest into its pool; tplWake is closed (and
	// dropped) at every change of these maps, waking WaitWarm.
	tplErr  map[string]error
	warmErr map[string]error
	tplWake chan struct{}
	// bg holds the background VMs' reservations and the templates' last
	// uses (background.go).
	bg background

	closeOnce sync.Once
}

// instance is a live VM and its agent client.
type instance struct {
	vm    hypervisor.VM
	agent *client.Client
	// expected is closed by whoever stops the VM on purpose, so the
	// watcher does not mistake the exit for a crash.
	expected chan struct{}
	once     sync.Once
}

func (in *instance) expect() { in.once.Do(func() { close(in.expected) }) }

// New builds a Manager, reconciles the database with the VMs that run
// (adopting live ones, failing dead ones and releasing what they held),
// and starts the TTL and idle reaper.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = 60 * time.Second
	}
	if cfg.Defaults.VCPUs == 0 {
		cfg.Defaults.VCPUs = 1
	}
	if cfg.Defaults.MemoryMiB == 0 {
		cfg.Defaults.MemoryMiB = 256
	}
	if cfg.Defaults.Network == "" {
		cfg.Defaults.Network = defaultNetwork(cfg.Driver, cfg.Network != nil)
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.MemoryDir == "" {
		cfg.MemoryDir = defaultMemoryDir(cfg.StateDir)
	}
	if err := os.MkdirAll(cfg.MemoryDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating memory dir: %w", err)
	}
	life, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg:      cfg,
		log:      cfg.Logger,
		runtimes: map[string]Runtime{},
		life:     life,
		cancel:   cancel,
		vms:      map[string]*instance{},
		reserved: map[string]Capacity{},
		tpl:      map[string]*snapshotRef{},
	}
	for _, r := range cfg.Runtimes {
		m.runtimes[r.Name] = r
	}
	secrets, err := openSecretStore(filepath.Join(cfg.StateDir, "secrets"))
	if err != nil {
		cancel()
		return nil, err
	}
	m.secrets = secrets
	if err := m.recover(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("recovering sandboxes: %w", err)
	}
	if cfg.Templates {
		m.loadTemplates(ctx)
		for _, rt := range cfg.Runtimes {
			m.ensureTemplate(Spec{Runtime: rt.Name}.withDefaults(cfg.Defaults), rt)
		}
	}
	m.startReaper()
	return m, nil
}

// Close stops the manager's goroutines and lets go of the VMs without
// stopping them, so a restarted daemon can adopt them. Idempotent.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		m.wg.Wait()
		m.drainWarm()
		// Only succeeds when empty: running VMs keep their memory files.
		_ = os.Remove(m.cfg.MemoryDir)
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, in := range m.vms {
			in.agent.CloseIdle()
			_ = in.vm.Close()
		}
	})
	return nil
}

// Driver returns the hypervisor driver the manager uses.
func (m *Manager) Driver() hypervisor.Driver { return m.cfg.Driver }

// Get returns a sandbox by id or name.
func (m *Manager) Get(ctx context.Context, idOrName string) (*Sandbox, error) {
	rec, err := m.record(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	return m.view(rec), nil
}

// view is fromRecord plus what only the live VM knows.
func (m *Manager) view(rec store.Sandbox) *Sandbox {
	sb := fromRecord(rec)
	if in, ok := m.instance(rec.ID); ok {
		sb.PID = in.vm.PID()
	}
	return sb
}

// record reads a sandbox's record by id or name.
func (m *Manager) record(ctx context.Context, idOrName string) (store.Sandbox, error) {
	if err := validateRef("sandbox id", idOrName); err != nil {
		return store.Sandbox{}, errdefs.WithRemedy(err, errdefs.OpSandboxList)
	}
	rec, err := m.cfg.Store.GetSandbox(ctx, idOrName)
	if errors.Is(err, errdefs.ErrNotFound) {
		rec, err = m.cfg.Store.GetSandboxByName(ctx, idOrName)
	}
	if errors.Is(err, errdefs.ErrNotFound) {
		return store.Sandbox{}, sandboxNotFound(idOrName)
	}
	return rec, err
}

// List returns one page of sandboxes, oldest first.
func (m *Manager) List(ctx context.Context, opts ListOptions) (*ListPage, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Limit == 0 {
		opts.Limit = 100
	}
	f := store.SandboxFilter{Runtime: opts.Runtime, Labels: opts.Labels, Limit: opts.Limit, After: opts.Cursor}
	for _, s := range opts.States {
		f.States = append(f.States, string(s))
	}
	recs, next, err := m.cfg.Store.ListSandboxes(ctx, f)
	if err != nil {
		return nil, err
	}
	page := &ListPage{Items: make([]*Sandbox, 0, len(recs)), Next: next}
	for _, r := range recs {
		page.Items = append(page.Items, m.view(r))
	}
	return page, nil
}

// instance returns the live VM of a sandbox.
func (m *Manager) instance(id string) (*instance, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.vms[id]
	return in, ok
}

// publish records an event; failures are logged, never returned.
func (m *Manager) publish(ctx context.Context, typ, id string, data any) {
	if m.cfg.Events == nil {
		return
	}
	e := events.Event{Type: typ, SandboxID: id}
	if data != nil {
		b, err := json.Marshal(data)
		if err == nil {
			e.Data = b
		}
	}
	if _, err := m.cfg.Events.Publish(context.WithoutCancel(ctx), e); err != nil {
		m.log.Warn("publishing event", "type", typ, "sandbox", id, "err", err)
	}
}

// newID returns a fresh sandbox id.
func newID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// defaultMemoryDir puts RAM files on tmpfs, one dir per state dir.
func defaultMemoryDir(stateDir string) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		h := fnv.New32a()
		h.Write([]byte(stateDir))
		return filepath.Join("/dev/shm", fmt.Sprintf("volant-%08x", h.Sum32()))
	}
	return filepath.Join(stateDir, "mem")
}

// vmDir is the runtime directory of a sandbox's VM.
func (m *Manager) vmDir(id string) string { return filepath.Join(m.cfg.StateDir, "vms", id) }

// dirOf is the runtime directory of a sandbox's VM as recorded (a VM taken
// from the warm pool keeps the directory it was restored into).
func (m *Manager) dirOf(rec store.Sandbox) string {
	if rec.VMDir != "" {
		return rec.VMDir
	}
	return m.vmDir(rec.ID)
}

// LookupError is the error of looking up a sandbox by idOrName when none
// has it (or the id is malformed), as the engine answers it. Fake engines
// use it to answer as the engine does.
func LookupError(idOrName string) error {
	if err := validateRef("sandbox id", idOrName); err != nil {
		return errdefs.WithRemedy(err, errdefs.OpSandboxList)
	}
	return sandboxNotFound(idOrName)
}

// sandboxNotFound is the error of an unknown sandbox id or name.
func sandboxNotFound(idOrName string) error {
	return errdefs.WithRemedy(errdefs.NotFound("sandbox %q not found; list sandboxes to see the ids", clip(idOrName)), errdefs.OpSandboxList)
}
