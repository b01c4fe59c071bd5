package sandbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/ipam"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/network"
	"github.com/volant-sh/volant/store"
)

// User-mode networking's fixed addresses (QEMU's slirp defaults).
const (
	userNetIP  = "10.0.2.15/24"
	userNetGW  = "10.0.2.2"
	userNetDNS = "10.0.2.3"
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
	var from *snapshotRef
	if spec.FromSnapshot != "" {
		ref, err := m.snapshotFor(ctx, spec.FromSnapshot, &spec)
		if err != nil {
			return nil, err
		}
		from = ref
	}
	if spec.Runtime == "" {
		spec.Runtime = DefaultRuntime
	}
	// The create is a use of its runtime from before it resolves it, so
	// a plugin cannot be disabled or removed under it (RuntimeInUse).
	defer m.creating(spec.Runtime)()
	rt, err := m.runtime(ctx, spec.Runtime)
	if err != nil {
		return nil, err
	}
	if rt.Plugin != nil && rt.Plugin.Resources != nil {
		applyRuntimeDefaults(&spec, rt)
		if err := spec.Validate(m.cfg.Limits); err != nil {
			return nil, fmt.Errorf("runtime %s's default size: %w", spec.Runtime, err)
		}
	}
	spec = spec.withDefaults(m.cfg.Defaults)
	if spec.Network == NetworkBridge && m.cfg.Network == nil {
		return nil, errdefs.Invalid("network bridge is not available on this daemon (it needs root and bridge_network); use network \"user\" or \"none\"")
	}
	if spec.DiskMiB > 0 && spec.FromSnapshot == "" && !spec.ColdBoot {
		spec.ColdBoot = true // templates have no data disk
	}
	if from == nil && !spec.ColdBoot {
		from = m.template(spec, rt)
	}

	id := newID("sbx-")
	if err := m.admit(id, spec); err != nil {
		return nil, err
	}
	unlock := m.locks.lock(id)
	defer unlock()

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
	setSpec(&rec, recordSpec{Spec: spec})
	if _, err := m.cfg.Store.CreateSandbox(ctx, rec); err != nil {
		m.unadmit(id)
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil, errdefs.Conflict("a sandbox named %q exists already; pick another name or delete that one", spec.Name)
		}
		return nil, err
	}
	m.publish(ctx, events.SandboxCreated, id, map[string]any{"runtime": spec.Runtime, "name": spec.Name})

	var warm *warmVM
	if from != nil && spec.FromSnapshot == "" {
		warm = m.takeWarm(m.templateKey(spec, rt), from, spec)
	}
	err = m.boot(ctx, id, spec, rt, from, warm)
	if err != nil && warm != nil && ctx.Err() == nil {
		m.log.Warn("warm guest failed; restoring afresh", "sandbox", id, "err", err)
		err = m.boot(ctx, id, spec, rt, from, nil)
	}
	if err != nil && from != nil && spec.FromSnapshot == "" && ctx.Err() == nil {
		// A template that no longer restores is dropped; cold boot instead.
		// (Not when the caller gave up: that says nothing of the template.)
		m.log.Warn("template restore failed; cold booting", "sandbox", id, "template", from.id, "err", err)
		m.templateFailed(context.WithoutCancel(ctx), from.id)
		err = m.boot(ctx, id, spec, rt, nil, nil)
	}
	if err != nil {
		// Nothing of a failed create stays: the record goes too.
		m.unadmit(id)
		m.removeDisk(id)
		_ = m.cfg.Store.DeleteSandbox(context.WithoutCancel(ctx), id)
		m.publish(ctx, events.SandboxFailed, id, map[string]string{"reason": err.Error()})
		m.publish(ctx, events.SandboxDeleted, id, nil)
		return nil, err
	}
	if from == nil && !spec.ColdBoot {
		m.ensureTemplate(spec, rt)
	}
	return m.Get(ctx, id)
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
	life := context.WithoutCancel(ctx)

	cfg := m.vmConfig(id, spec, rt)
	cmdline := []string{"volant.hostname=" + id}
	if rt.Cmdline != "" {
		cmdline = append(cmdline, rt.Cmdline)
	}
	var ip, gw, mac, tap string
	switch spec.Network {
	case NetworkBridge:
		addr, lerr := m.lease(ctx, id)
		if lerr != nil {
			return lerr
		}
		rev.add(func() { _, _ = m.cfg.Addresses.ReleaseOwner(life, id) })
		mac = ipam.MAC(addr).String()
		if warm != nil {
			tap = warm.tap
		} else {
			tap = network.TapName(id)
			if err := m.cfg.Network.CreateTap(ctx, tap); err != nil {
				return fmt.Errorf("creating tap for %s: %w", id, err)
			}
			rev.add(func() { _ = m.cfg.Network.DeleteTap(life, tap) })
		}
		ip = netip.PrefixFrom(addr, m.cfg.Addresses.Prefix().Bits()).String()
		gw = m.cfg.Addresses.Gateway().String()
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetTap, Tap: tap, MAC: mac}
		cmdline = append(cmdline, "volant.ip="+ip, "volant.gw="+gw)
	case NetworkUser:
		ip, gw = userNetIP, userNetGW
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser, MAC: userMAC(id)}
		cmdline = append(cmdline, "volant.ip="+ip, "volant.gw="+gw, "volant.dns="+userNetDNS)
	}
	if spec.DiskMiB > 0 && from == nil {
		disk, derr := m.ensureDisk(ctx, id, spec.DiskMiB)
		if derr != nil {
			return derr
		}
		cfg.Disks = append(cfg.Disks, disk)
		cmdline = append(cmdline, "volant.disk=/dev/vda:"+DataDir)
	}
	cfg.Cmdline = strings.Join(cmdline, " ")
	rev.add(func() { _ = os.Remove(cfg.MemoryFile) })

	var vm hypervisor.VM
	bootKind := "cold"
	t0 := time.Now()
	if warm != nil {
		bootKind = "restore"
		vm = warm.vm
	} else if from != nil {
		restorer, ok := m.cfg.Driver.(hypervisor.Restorer)
		if !ok {
			return errdefs.Unavailable("the %s driver cannot restore snapshots", m.cfg.Driver.Name())
		}
		bootKind = "restore"
		cfg.MemoryFile = "" // a restored VM maps the snapshot's memory copy-on-write
		vm, err = restorer.Restore(ctx, cfg, from.dir)
	} else {
		vm, err = m.cfg.Driver.Boot(ctx, cfg)
	}
	if err != nil {
		_ = os.RemoveAll(cfg.Dir)
		return fmt.Errorf("starting the VM of %s: %w", id, err)
	}
	if warm != nil {
		rev.add(func() { warm.kill(m) })
	} else {
		rev.add(func() { _ = vm.Kill(); _ = os.RemoveAll(cfg.Dir) })
	}

	t1 := time.Now()
	agent := client.New(vm.DialAgent)
	if warm != nil {
		agent = warm.agent
	}
	ready := func(ctx context.Context) error {
		_, err := agent.WaitReady(ctx)
		return err
	}
	if from != nil {
		// A restored guest's first request gives it its identity; its
		// answer also says the agent is ready (one round trip, not two).
		ready = func(ctx context.Context) error { return m.reconfigure(ctx, agent, id, ip, gw, mac, spec.Network) }
	}
	if err := m.waitAgent(ctx, vm, ready); err != nil {
		return err
	}
	if from == nil {
		if err := m.setupPlugin(ctx, agent, rt); err != nil {
			return err
		}
	}
	m.log.Debug("vm started", "sandbox", id, "boot", bootKind, "vmm", t1.Sub(t0), "agent", time.Since(t1))

	_, err = m.update(ctx, id, func(r *store.Sandbox) error {
		r.State = string(StateRunning)
		r.Reason = ""
		r.IP, r.MAC, r.Tap, r.VMDir = ip, mac, tap, vm.Dir()
		meta := specOf(*r)
		meta.Gateway, meta.Boot = gw, bootKind
		if from != nil {
			meta.Restored = from.id
		}
		setSpec(r, meta)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording %s as running: %w", id, err)
	}
	m.adopt(id, vm, agent)
	m.publish(ctx, events.SandboxRunning, id, map[string]string{"boot": bootKind, "ip": ip})
	return nil
}

// vmConfig is the hypervisor config of a sandbox's VM, network aside.
func (m *Manager) vmConfig(id string, spec Spec, rt Runtime) hypervisor.Config {
	return hypervisor.Config{
		ID: id, Dir: m.vmDir(id), VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB,
		Kernel: rt.Kernel, Initramfs: rt.Initramfs,
		Net:        hypervisor.Net{Mode: hypervisor.NetNone},
		MemoryFile: m.memFile(id),
	}
}

// memFile is where a VM's RAM lives (shared, so snapshots can keep it):
// on tmpfs when the host has one.
func (m *Manager) memFile(id string) string {
	return filepath.Join(m.cfg.MemoryDir, id+".mem")
}

// userMAC is a stable MAC for a user-mode interface.
func userMAC(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	b := h.Sum32()
	return fmt.Sprintf("52:54:01:%02x:%02x:%02x", byte(b>>16), byte(b>>8), byte(b))
}

// reconfigure gives a restored guest its own identity.
func (m *Manager) reconfigure(ctx context.Context, agent *client.Client, id, ip, gw, mac string, mode NetworkMode) error {
	entropy := make([]byte, 64)
	_, _ = rand.Read(entropy)
	req := client.ReconfigureRequest{Hostname: id, TimeUnixNS: time.Now().UnixNano(), Entropy: entropy}
	// A user-mode guest keeps the template's address and MAC: its network
	// stack is its own, so they collide with nothing.
	if mode == NetworkBridge {
		req.IPCIDR, req.Gateway, req.MAC = ip, gw, mac
	}
	if err := agent.Reconfigure(ctx, req); err != nil {
		return fmt.Errorf("giving restored sandbox %s its identity: %w", id, err)
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
	var err error
	delay := 5 * time.Millisecond
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		err = ready(actx)
		acancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
	select {
	case <-vm.Done():
		return errdefs.Unavailable("the VM exited during boot; its console log: %s", consoleTail(vm.ConsoleLogPath(), 2048))
	default:
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errdefs.Unavailable("the guest agent did not answer within %s (last error: %v); console: %s", m.cfg.BootTimeout, err, consoleTail(vm.ConsoleLogPath(), 2048))
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
