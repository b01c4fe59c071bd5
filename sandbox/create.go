package sandbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/internal/poll"
	"github.com/volant-sh/volant/ipam"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/network"
	"github.com/volant-sh/volant/store"
)

// Create validates spec, admits it against the host budget, and starts a
// sandbox: restored from spec.FromSnapshot, else from the runtime's
// template snapshot when one matches, else cold-booted. It returns once the
// guest agent answers. On error nothing is left behind: no record, lease,
// tap, process or file.
func (m *Manager) Create(ctx context.Context, spec Spec) (*Sandbox, error) {
	if err := spec.Validate(m.cfg.Limits); err != nil {
		return nil, err
	}
	if spec.Runtime == "" {
		spec.Runtime = DefaultRuntime
	}
	ctx, tm := withTiming(ctx)
	// The create is a use of its runtime from before it resolves it, so
	// a plugin cannot be disabled or removed under it (RuntimeInUse).
	defer m.creating(spec.Runtime)()
	spec, rt, from, err := m.resolve(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer m.creatingImage(spec)()

	step(ctx, "resolve")
	id := newID("sbx-")
	if err := m.admit(id, spec); err != nil {
		return nil, err
	}
	m.makeRoom() // background.go: warm guests give way
	unlock := m.locks.lock(id)
	defer unlock()
	step(ctx, "admit")
	if spec, err = m.insertRecord(ctx, id, spec, from); err != nil {
		m.unadmit(id)
		return nil, err
	}
	step(ctx, "record")
	if err := m.bootNew(ctx, id, spec, rt, from); err != nil {
		m.discard(ctx, id, err)
		return nil, err
	}
	if from == nil && !spec.ColdBoot {
		m.ensureTemplate(spec, rt)
	}
	sb, err := m.Get(ctx, id)
	step(ctx, "get")
	if sb != nil {
		tm.log(m.log, "create timing", "sandbox", id, "boot", sb.Boot)
	}
	return sb, err
}

// resolve completes a valid spec: the snapshot it restores from (which
// fixes its size), its runtime and that runtime's defaults, the daemon's
// defaults, and the template it may restore from instead of booting.
func (m *Manager) resolve(ctx context.Context, spec Spec) (Spec, Runtime, *snapshotRef, error) {
	var from *snapshotRef
	if spec.FromSnapshot != "" {
		ref, err := m.snapshotFor(ctx, spec.FromSnapshot, &spec)
		if err != nil {
			return spec, Runtime{}, nil, err
		}
		from = ref
	}
	rt, err := m.runtime(ctx, spec.Runtime)
	if err != nil {
		return spec, rt, nil, err
	}
	if rt.Plugin != nil && rt.Plugin.Resources != nil {
		applyRuntimeDefaults(&spec, rt)
		if err := spec.Validate(m.cfg.Limits); err != nil {
			return spec, rt, nil, fmt.Errorf("runtime %s's default size: %w", spec.Runtime, err)
		}
	}
	spec = spec.withDefaults(m.cfg.Defaults)
	if spec.Network == NetworkBridge && m.cfg.Network == nil {
		return spec, rt, nil, errdefs.Invalid("network bridge is not available on this daemon (it needs root and bridge_network); use network \"user\" or \"none\"")
	}
	if err := m.checkUserNet(spec.Network); err != nil {
		return spec, rt, nil, err
	}
	if err := m.checkEgress(spec); err != nil {
		return spec, rt, nil, err
	}
	if spec.DiskMiB > 0 && spec.FromSnapshot == "" && !spec.ColdBoot {
		spec.ColdBoot = true // templates have no data disk
	}
	if err := m.checkDiskSpace(spec.DiskMiB); err != nil {
		return spec, rt, nil, err
	}
	// images: resolve spec.Image (images.go) before the template lookup,
	// since templates are keyed by the image's digest.
	if err := m.resolveImage(ctx, &spec, rt, from); err != nil {
		return spec, rt, nil, err
	}
	if from == nil && !spec.ColdBoot {
		from = m.template(spec, rt)
	}
	return spec, rt, from, nil
}

// insertRecord records a new sandbox as creating. The spec it returns
// holds the placeholders of its secrets in place of their values.
func (m *Manager) insertRecord(ctx context.Context, id string, spec Spec, from *snapshotRef) (Spec, error) {
	now := time.Now().UTC()
	rec := store.Sandbox{
		ID: id, Name: spec.Name, Runtime: spec.Runtime, State: string(StateCreating),
		Labels: spec.Labels, VMDir: m.vmDir(id), Driver: m.cfg.Driver.Name(),
		CreatedAt: now, LastActiveAt: now,
	}
	if from != nil && spec.FromSnapshot != "" {
		rec.FromSnapshot = from.id
	}
	if spec.TTLSeconds > 0 {
		rec.ExpiresAt = now.Add(seconds(spec.TTLSeconds))
	}
	spec, err := m.prepareSecrets(id, m.egressEnv(spec))
	if err != nil {
		m.dropSecrets(id)
		return spec, err
	}
	setSpec(&rec, recordSpec{Spec: spec})
	recordImage(&rec, spec) // images.go
	if _, err := m.cfg.Store.CreateSandbox(ctx, rec); err != nil {
		m.dropSecrets(id)
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return spec, errdefs.Conflict("a sandbox named %q exists already; pick another name or delete that one", spec.Name)
		}
		return spec, err
	}
	m.publish(ctx, events.SandboxCreated, id, map[string]any{"runtime": spec.Runtime, "name": spec.Name})
	return spec, nil
}

// bootNew boots a new sandbox's first VM: from a warm guest of its
// template when there is one, else restored from the template or snapshot
// from, else cold. A warm guest that fails is replaced by a fresh restore,
// and a template that fails to restore is dropped for a cold boot.
func (m *Manager) bootNew(ctx context.Context, id string, spec Spec, rt Runtime, from *snapshotRef) error {
	fromTemplate := from != nil && spec.FromSnapshot == ""
	var warm *warmVM
	if fromTemplate {
		warm = m.takeWarm(m.templateKey(spec, rt), from, spec)
	}
	err := m.boot(ctx, id, spec, rt, from, warm)
	if err != nil && warm != nil && ctx.Err() == nil {
		m.log.Warn("warm guest failed; restoring afresh", "sandbox", id, "err", err)
		err = m.boot(ctx, id, spec, rt, from, nil)
	}
	if err != nil && fromTemplate && ctx.Err() == nil {
		// A template that no longer restores is dropped; cold boot instead.
		// (Not when the caller gave up: that says nothing of the template.)
		m.log.Warn("template restore failed; cold booting", "sandbox", id, "template", from.id, "err", err)
		m.templateFailed(context.WithoutCancel(ctx), from.id)
		err = m.boot(ctx, id, spec, rt, nil, nil)
	}
	return err
}

// discard removes what is left of a create that failed: nothing of it
// stays, the record included.
func (m *Manager) discard(ctx context.Context, id string, err error) {
	ctx = context.WithoutCancel(ctx)
	m.unadmit(id)
	m.removeDisk(id)
	m.dropSecrets(id)
	_ = m.cfg.Store.DeleteSandbox(ctx, id)
	m.publish(ctx, events.SandboxFailed, id, map[string]string{"reason": err.Error()})
	m.publish(ctx, events.SandboxDeleted, id, nil)
}

// guestNet is a VM's network as the guest and the host see it.
type guestNet struct {
	ip, gw, mac, tap string
	dev              hypervisor.Net
	// cmdline holds the kernel arguments that tell the guest its address.
	cmdline []string
}

// boot attaches the network, boots the VM (or restores it from a
// snapshot), waits for its agent and marks the sandbox running. On error
// it undoes every step it took.
//
// warm, when set, is a pooled guest already restored from the template
// from: it only needs its identity.
func (m *Manager) boot(ctx context.Context, id string, spec Spec, rt Runtime, from *snapshotRef, warm *warmVM) (err error) {
	var rev reverter
	defer func() {
		if err != nil {
			rev.fail()
		}
	}()
	gn, err := m.attachNetwork(ctx, id, spec.Network, warm, &rev)
	if err != nil {
		return err
	}
	step(ctx, "network")
	cfg := m.vmConfig(id, spec, rt)
	cfg.Net = gn.dev
	cmdline := []string{"volant.hostname=" + id}
	if rt.Cmdline != "" {
		cmdline = append(cmdline, rt.Cmdline)
	}
	cmdline = append(cmdline, gn.cmdline...)
	if spec.DiskMiB > 0 && from == nil {
		disk, derr := m.ensureDisk(ctx, id, spec.DiskMiB)
		if derr != nil {
			return derr
		}
		cfg.Disks = append(cfg.Disks, disk)
		cmdline = append(cmdline, "volant.disk=/dev/vda:"+DataDir)
	}
	if spec.image != nil && from == nil {
		// images.go: the image read-only and the sandbox's copy-on-write
		// layer, after the data disk (which stays /dev/vda).
		disks, args, derr := m.imageDisks(ctx, spec.image, m.rootDiskPath(id))
		if derr != nil {
			return derr
		}
		cfg.Disks = append(cfg.Disks, disks...)
		cmdline = append(cmdline, args...)
	}
	cfg.Cmdline = strings.Join(cmdline, " ")
	rev.add(func() { _ = os.Remove(cfg.MemoryFile) })

	vm, bootKind, err := m.startVM(ctx, cfg, from, warm, &rev)
	if err != nil {
		return err
	}
	step(ctx, "vmm")
	agent, err := m.connectAgent(ctx, id, vm, spec, rt, gn, from, warm)
	if err != nil {
		return err
	}
	err = m.markRunning(ctx, id, vm, agent, gn, bootKind, from)
	step(ctx, "mark-running")
	return err
}

// attachNetwork gives a sandbox its network: in bridge mode a lease and a
// tap (a warm guest brings its own tap), in user mode the VMM's fixed
// addresses. rev undoes it.
func (m *Manager) attachNetwork(ctx context.Context, id string, mode NetworkMode, warm *warmVM, rev *reverter) (guestNet, error) {
	life := context.WithoutCancel(ctx)
	gn := guestNet{dev: hypervisor.Net{Mode: hypervisor.NetNone}}
	switch mode {
	case NetworkBridge:
		addr, err := m.lease(ctx, id)
		if err != nil {
			return gn, err
		}
		rev.add(func() { _, _ = m.cfg.Addresses.ReleaseOwner(life, id) })
		gn.mac = ipam.MAC(addr).String()
		if warm != nil {
			gn.tap = warm.tap
		} else {
			tap := network.TapName(id)
			if err := m.cfg.Network.CreateTap(ctx, tap); err != nil {
				return gn, fmt.Errorf("creating tap for %s: %w", id, err)
			}
			rev.add(func() { _ = m.cfg.Network.DeleteTap(life, tap) })
			gn.tap = tap
		}
		gn.ip = netip.PrefixFrom(addr, m.cfg.Addresses.Prefix().Bits()).String()
		gn.gw = m.cfg.Addresses.Gateway().String()
		gn.dev = hypervisor.Net{Mode: hypervisor.NetTap, Tap: gn.tap, MAC: gn.mac}
		gn.cmdline = []string{"volant.ip=" + gn.ip, "volant.gw=" + gn.gw}
		if dns := m.guestDNS(mode, gn.gw); dns != "" {
			gn.cmdline = append(gn.cmdline, "volant.dns="+dns)
		}
	case NetworkUser:
		un := m.cfg.Driver.Capabilities().UserNetAddr
		gn.ip, gn.gw = un.IP, un.Gateway
		gn.dev = hypervisor.Net{Mode: hypervisor.NetUser, MAC: userMAC(id)}
		gn.cmdline = userNetCmdline(un)
	}
	return gn, nil
}

// startVM boots cfg, restores it from a snapshot, or takes the warm guest,
// and says which ("cold" or "restore"). rev stops it.
func (m *Manager) startVM(ctx context.Context, cfg hypervisor.Config, from *snapshotRef, warm *warmVM, rev *reverter) (hypervisor.VM, string, error) {
	if warm != nil {
		rev.add(func() { warm.kill(m) })
		return warm.vm, "restore", nil
	}
	var vm hypervisor.VM
	var err error
	bootKind := "cold"
	if from != nil {
		restorer, ok := m.cfg.Driver.(hypervisor.Restorer)
		if !ok {
			return nil, "", errdefs.Unavailable("the %s driver cannot restore snapshots", m.cfg.Driver.Name())
		}
		bootKind = "restore"
		cfg.MemoryFile = "" // a restore backs memory its own way (hypervisor.Restorer)
		vm, err = restorer.Restore(ctx, cfg, from.dir)
	} else {
		vm, err = m.cfg.Driver.Boot(ctx, cfg)
	}
	if err != nil {
		_ = os.RemoveAll(cfg.Dir)
		return nil, "", fmt.Errorf("starting the VM of %s: %w", cfg.ID, err)
	}
	rev.add(func() { _ = vm.Kill(); _ = os.RemoveAll(cfg.Dir) })
	return vm, bootKind, nil
}

// connectAgent waits for a new VM's agent. A restored guest's first
// request gives it its identity, and its answer also says the agent is
// ready (one round trip, not two); a cold-booted one then gets its
// runtime plugin set up.
func (m *Manager) connectAgent(ctx context.Context, id string, vm hypervisor.VM, spec Spec, rt Runtime, gn guestNet, from *snapshotRef, warm *warmVM) (*client.Client, error) {
	agent := client.New(vm.DialAgent)
	if warm != nil {
		agent = warm.agent
	}
	ready := func(ctx context.Context) error {
		_, err := agent.Ready(ctx)
		return err
	}
	switch {
	case from != nil && from.own:
		ready = func(ctx context.Context) error { return resume(ctx, agent, id) }
	case from != nil:
		ready = func(ctx context.Context) error {
			return m.reconfigure(ctx, agent, id, gn.ip, gn.gw, gn.mac, spec.Network)
		}
	}
	if err := m.waitAgent(ctx, vm, ready); err != nil {
		return nil, err
	}
	if from != nil {
		step(ctx, "identity")
	} else {
		step(ctx, "agent")
	}
	if from == nil && gn.ip != "" {
		// A cold-booted guest got its identity from the command line;
		// once its agent answers, check that the guest applied it.
		if err := m.waitAgent(ctx, vm, func(ctx context.Context) error {
			return checkNet(ctx, agent, id, gn.ip, gn.gw, gn.mac, spec.Network)
		}); err != nil {
			return nil, err
		}
	}
	if from == nil {
		if err := m.setupImage(ctx, agent, spec.image); err != nil { // images.go
			return nil, err
		}
		if err := m.setupPlugin(ctx, agent, rt); err != nil {
			return nil, err
		}
	}
	if err := m.installCA(ctx, agent, spec); err != nil {
		return nil, err
	}
	step(ctx, "setup")
	return agent, nil
}

// markRunning records a sandbox whose agent answered as running, adopts
// its VM and announces it.
func (m *Manager) markRunning(ctx context.Context, id string, vm hypervisor.VM, agent *client.Client, gn guestNet, bootKind string, from *snapshotRef) error {
	rec, err := m.update(ctx, id, func(r *store.Sandbox) error {
		r.State = string(StateRunning)
		r.Reason = ""
		r.IP, r.MAC, r.Tap, r.VMDir = gn.ip, gn.mac, gn.tap, vm.Dir()
		meta := specOf(*r)
		meta.Gateway, meta.Boot = gn.gw, bootKind
		if from != nil {
			meta.Restored = from.id
		}
		setSpec(r, meta)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording %s as running: %w", id, err)
	}
	m.attachEgress(rec)
	m.adopt(id, vm, agent)
	m.publish(ctx, events.SandboxRunning, id, map[string]string{"boot": bootKind, "ip": gn.ip})
	return nil
}

// vmConfig is the hypervisor config of a sandbox's VM, network aside.
func (m *Manager) vmConfig(id string, spec Spec, rt Runtime) hypervisor.Config {
	cfg := hypervisor.Config{
		ID: id, Dir: m.vmDir(id), VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB,
		Kernel: rt.Kernel, Initramfs: rt.Initramfs,
		Net: hypervisor.Net{Mode: hypervisor.NetNone},
	}
	if m.cfg.Driver.Capabilities().MemoryFile {
		cfg.MemoryFile = m.memFile(id)
	}
	return cfg
}

// memFile is where a VM's RAM lives (shared, so snapshots can keep it):
// on tmpfs when the host has one.
func (m *Manager) memFile(id string) string {
	return filepath.Join(m.cfg.MemoryDir, id+".mem")
}

// userMAC is a stable MAC for a user-mode interface.
func userMAC(id string) string { return hypervisor.StableMAC(id) }

// reconfigure gives a restored guest its own identity, and checks that
// a guest has the network identity the sandbox will report: the agent
// reads eth0 back after applying and the answer must show the address,
// the default route and (bridge) the MAC, or the sandbox does not run.
func (m *Manager) reconfigure(ctx context.Context, agent *client.Client, id, ip, gw, mac string, mode NetworkMode) error {
	entropy := make([]byte, 64)
	_, _ = rand.Read(entropy)
	req := client.ReconfigureRequest{Hostname: id, TimeUnixNS: time.Now().UnixNano(), Entropy: entropy, IPCIDR: ip, Gateway: gw}
	// A user-mode guest keeps the template's MAC and address: its network
	// stack is its own, so it collides with nothing, and every user-mode
	// guest has the same address, which the template or snapshot had
	// already (a snapshot restores only in its own network mode). So the
	// network part, the dearest of a reconfigure under TCG, is left out.
	if mode == NetworkUser {
		req.IPCIDR, req.Gateway = "", ""
	}
	if mode == NetworkBridge {
		req.MAC = mac
		if dns := m.guestDNS(mode, gw); dns != "" {
			req.DNS = []string{dns}
		}
	}
	if _, err := agent.Reconfigure(ctx, req); err != nil {
		return fmt.Errorf("giving sandbox %s its identity: %w", id, err)
	}
	return nil
}

// resume tells a guest woken from its own hibernation the time and gives
// it fresh entropy (a snapshot restored twice must not repeat its random
// stream). Its network and hostname are as it left them: the same lease,
// MAC and tap name, so the network part of a reconfigure, the slowest
// under TCG, is skipped.
func resume(ctx context.Context, agent *client.Client, id string) error {
	entropy := make([]byte, 64)
	_, _ = rand.Read(entropy)
	if _, err := agent.Reconfigure(ctx, client.ReconfigureRequest{TimeUnixNS: time.Now().UnixNano(), Entropy: entropy}); err != nil {
		return fmt.Errorf("resuming sandbox %s: %w", id, err)
	}
	return nil
}

// checkNet makes sure a guest has the network identity the sandbox
// reports: the same network part of a reconfigure (applying it again is
// harmless), whose answer must show it applied.
func checkNet(ctx context.Context, agent *client.Client, id, ip, gw, mac string, mode NetworkMode) error {
	req := client.ReconfigureRequest{IPCIDR: ip, Gateway: gw}
	if mode == NetworkBridge {
		req.MAC = mac
	}
	if _, err := agent.Reconfigure(ctx, req); err != nil {
		return fmt.Errorf("checking the network of sandbox %s: %w", id, err)
	}
	return nil
}

// waitAgent calls ready until it succeeds, the VMM dies, or the boot
// timeout passes.
func (m *Manager) waitAgent(ctx context.Context, vm hypervisor.VM, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.BootTimeout)
	defer cancel()
	go func() {
		select {
		case <-vm.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	err := poll.Until(ctx, poll.Backoff{First: 5 * time.Millisecond, Max: 100 * time.Millisecond, Attempt: 2 * time.Second}, ready)
	if err == nil {
		return nil
	}
	select {
	case <-vm.Done():
		return errdefs.Unavailable("the VM exited during boot; its console log: %s", consoleTail(vm.ConsoleLogPath(), 2048))
	default:
	}
	if perr := (*poll.Error)(nil); errors.As(err, &perr) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errdefs.Unavailable("the guest agent was not ready within %s (last error: %v); console: %s", m.cfg.BootTimeout, perr.Last, consoleTail(vm.ConsoleLogPath(), 2048))
	}
	return fmt.Errorf("waiting for the guest agent: %w", err)
}

// lease returns the sandbox's address, reusing one it already holds.
func (m *Manager) lease(ctx context.Context, id string) (netip.Addr, error) {
	if a, ok := m.cfg.Addresses.Lookup(id); ok {
		return a, nil
	}
	return m.cfg.Addresses.Allocate(ctx, id)
}

// adopt registers a live VM and starts watching it for an unexpected exit.
func (m *Manager) adopt(id string, vm hypervisor.VM, agent *client.Client) *instance {
	in := &instance{vm: vm, agent: agent, expected: make(chan struct{})}
	m.mu.Lock()
	m.vms[id] = in
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.watch(id, in)
	}()
	return in
}

// consoleTail returns the last n bytes of a console log, for errors.
func consoleTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no console log)"
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "(no console log)"
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return strings.TrimSpace(string(buf))
}
