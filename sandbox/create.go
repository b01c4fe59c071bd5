package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
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
// sandbox. It returns once the guest agent answers. On error nothing is
// left behind: no record, lease, tap, process or file.
func (m *Manager) Create(ctx context.Context, spec Spec) (*Sandbox, error) {
	if err := spec.Validate(m.cfg.Limits); err != nil {
		return nil, err
	}
	spec = spec.withDefaults(m.cfg.Defaults)
	rt, ok := m.runtimes[spec.Runtime]
	if !ok {
		return nil, errdefs.Invalid("runtime %q is not available; use one of: %s", spec.Runtime, strings.Join(m.runtimeNames(), ", "))
	}
	if spec.Network == NetworkBridge && m.cfg.Network == nil {
		return nil, errdefs.Invalid("network bridge is not available on this daemon (it needs root); use network \"user\" or \"none\"")
	}
	if spec.DiskMiB > 0 {
		return nil, errdefs.Invalid("disk_mib: scratch disks are not supported yet; leave it 0 (the guest's root is in memory)")
	}
	if spec.FromSnapshot != "" {
		return nil, errdefs.Invalid("from_snapshot: restoring snapshots is not supported yet")
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
	if spec.TTLSeconds > 0 {
		rec.ExpiresAt = now.Add(time.Duration(spec.TTLSeconds) * time.Second)
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

	if err := m.boot(ctx, id, spec, rt); err != nil {
		// Nothing of a failed create stays: the record goes too.
		m.unadmit(id)
		_ = m.cfg.Store.DeleteSandbox(context.WithoutCancel(ctx), id)
		m.publish(ctx, events.SandboxFailed, id, map[string]string{"reason": err.Error()})
		m.publish(ctx, events.SandboxDeleted, id, nil)
		return nil, err
	}
	return m.Get(ctx, id)
}

// boot attaches the network, boots the VM, waits for its agent and marks
// the sandbox running. On error it undoes every step it took.
func (m *Manager) boot(ctx context.Context, id string, spec Spec, rt Runtime) (err error) {
	var rev reverter
	defer func() {
		if err != nil {
			rev.fail()
		}
	}()
	life := context.WithoutCancel(ctx)

	cfg := hypervisor.Config{
		ID: id, Dir: m.vmDir(id), VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB,
		Kernel: rt.Kernel, Initramfs: rt.Initramfs,
		Net: hypervisor.Net{Mode: hypervisor.NetNone},
	}
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
		tap = network.TapName(id)
		if err := m.cfg.Network.CreateTap(ctx, tap); err != nil {
			return fmt.Errorf("creating tap for %s: %w", id, err)
		}
		rev.add(func() { _ = m.cfg.Network.DeleteTap(life, tap) })
		ip = netip.PrefixFrom(addr, m.cfg.Addresses.Prefix().Bits()).String()
		gw = m.cfg.Addresses.Gateway().String()
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetTap, Tap: tap, MAC: mac}
		cmdline = append(cmdline, "volant.ip="+ip, "volant.gw="+gw)
	case NetworkUser:
		ip, gw = userNetIP, userNetGW
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
		cmdline = append(cmdline, "volant.ip="+ip, "volant.gw="+gw, "volant.dns="+userNetDNS)
	}
	cfg.Cmdline = strings.Join(cmdline, " ")

	vm, err := m.cfg.Driver.Boot(ctx, cfg)
	if err != nil {
		_ = os.RemoveAll(cfg.Dir)
		return fmt.Errorf("booting %s: %w", id, err)
	}
	rev.add(func() { _ = vm.Kill(); _ = os.RemoveAll(cfg.Dir) })

	agent := client.New(vm.DialAgent)
	if err := m.waitAgent(ctx, vm, agent); err != nil {
		return err
	}

	_, err = m.update(ctx, id, func(r *store.Sandbox) error {
		r.State = string(StateRunning)
		r.Reason = ""
		r.IP, r.MAC, r.Tap = ip, mac, tap
		meta := specOf(*r)
		meta.Gateway, meta.Boot = gw, "cold"
		setSpec(r, meta)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording %s as running: %w", id, err)
	}
	m.adopt(id, vm, agent)
	m.publish(ctx, events.SandboxRunning, id, map[string]string{"boot": "cold", "ip": ip})
	return nil
}

// waitAgent waits until the guest agent answers, the VMM dies, or the boot
// timeout passes.
func (m *Manager) waitAgent(ctx context.Context, vm hypervisor.VM, agent *client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.BootTimeout)
	defer cancel()
	go func() {
		select {
		case <-vm.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	if _, err := agent.WaitReady(ctx); err != nil {
		select {
		case <-vm.Done():
			return errdefs.Unavailable("the VM exited during boot; its console log: %s", consoleTail(vm.ConsoleLogPath(), 2048))
		default:
		}
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errdefs.Unavailable("the guest agent did not answer within %s; console: %s", m.cfg.BootTimeout, consoleTail(vm.ConsoleLogPath(), 2048))
		}
		return fmt.Errorf("waiting for the guest agent: %w", err)
	}
	return nil
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

func (m *Manager) runtimeNames() []string {
	names := make([]string, 0, len(m.runtimes))
	for n := range m.runtimes {
		names = append(names, n)
	}
	return names
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
