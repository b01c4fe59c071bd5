package sandbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/network"
)

// Templates: each runtime and size gets a snapshot of a freshly booted,
// healthy guest; creates restore from it (copy-on-write memory) instead of
// booting. A template is keyed by runtime, image and device shape, so an
// image change makes new templates and the old ones are removed.

const templatePrefix = "tpl-"

func isTemplateID(id string) bool { return strings.HasPrefix(id, templatePrefix) }

// templateKey names the template that can serve spec.
func (m *Manager) templateKey(spec Spec, rt Runtime) string {
	return fmt.Sprintf("%s/%s/%dc/%dm/net=%s/%s@%s", spec.Runtime, rt.digest(), spec.VCPUs, spec.MemoryMiB, spec.Network, m.cfg.Driver.Name(), m.vmmVersion()) + imageKey(spec)
}

// template returns the ready template for spec, if any.
func (m *Manager) template(spec Spec, rt Runtime) *snapshotRef {
	if !m.cfg.Templates {
		return nil
	}
	key := m.templateKey(spec, rt)
	m.tplMu.Lock()
	defer m.tplMu.Unlock()
	ref := m.tpl[key]
	if ref != nil {
		m.touchTemplateLocked(key) // background.go: LRU
	}
	return ref
}

// dropTemplate forgets a template (deleted, or no longer restorable).
func (m *Manager) dropTemplate(id string) {
	m.tplMu.Lock()
	var stale []*warmVM
	for k, ref := range m.tpl {
		if ref.id == id {
			delete(m.tpl, k)
			stale = append(stale, m.warm[k]...)
			delete(m.warm, k)
		}
	}
	m.tplChangedLocked()
	m.tplMu.Unlock()
	for _, w := range stale {
		w.kill(m)
	}
}

// templateFailed forgets a template that did not restore and deletes it;
// its key gets no new template until the daemon restarts, so a template
// that cannot work is not rebuilt over and over.
func (m *Manager) templateFailed(ctx context.Context, id string) {
	m.tplMu.Lock()
	var stale []*warmVM
	for k, ref := range m.tpl {
		if ref.id == id {
			delete(m.tpl, k)
			stale = append(stale, m.warm[k]...)
			delete(m.warm, k)
			if m.tplBroken == nil {
				m.tplBroken = map[string]bool{}
			}
			m.tplBroken[k] = true
		}
	}
	m.tplChangedLocked()
	m.tplMu.Unlock()
	for _, w := range stale {
		w.kill(m)
	}
	if err := m.DeleteSnapshot(ctx, id); err != nil {
		m.log.Warn("deleting a template that does not restore", "template", id, "err", err)
	}
}

// loadTemplates finds the templates of the current images and removes
// stale ones.
func (m *Manager) loadTemplates(ctx context.Context) {
	recs, err := m.cfg.Store.ListSnapshots(ctx)
	if err != nil {
		m.log.Warn("listing templates", "err", err)
		return
	}
	for _, r := range recs {
		if !isTemplateID(r.ID) {
			continue
		}
		ref, err := m.loadRef(r)
		rt, rerr := m.runtime(ctx, r.Runtime)
		// A template keyed by another driver or VMM version (or by an
		// older key scheme), or whose image file is gone, no longer serves
		// any create.
		stale := err != nil || rerr != nil || ref.man.Image != rt.digest() || ref.man.VMMVersion != m.vmmVersion() || !templateImageUsable(ref.man)
		if !stale {
			tspec := Spec{Runtime: ref.man.Runtime, VCPUs: ref.man.VCPUs, MemoryMiB: ref.man.MemoryMiB, Network: ref.man.Network}
			if img := ref.man.RootImage; img != nil {
				tspec.image = &ImageRootFS{Digest: img.Digest}
			}
			stale = ref.man.Key != m.templateKey(tspec, rt)
		}
		if stale {
			m.log.Info("removing stale template", "template", r.ID)
			if err := m.DeleteSnapshot(ctx, r.ID); err != nil {
				m.log.Warn("removing stale template", "template", r.ID, "err", err)
			}
			continue
		}
		m.tplMu.Lock()
		m.tpl[ref.man.Key] = ref
		m.tplChangedLocked()
		m.tplMu.Unlock()
	}
	m.evictTemplates(ctx, "") // background.go: the caps may be lower now
	refs := m.templateRefs()
	for _, ref := range refs {
		spec := Spec{Runtime: ref.man.Runtime, VCPUs: ref.man.VCPUs, MemoryMiB: ref.man.MemoryMiB, Network: ref.man.Network}
		if img := ref.man.RootImage; img != nil { // images.go
			spec.Image, spec.image = img.Ref, img.rootFS()
		}
		m.fillWarm(ref.man.Key, ref, spec)
	}
}

// vmmVersion is the driver's VMM version as snapshots record it.
func (m *Manager) vmmVersion() string {
	if v, ok := m.cfg.Driver.(hypervisor.Versioner); ok {
		return v.Version()
	}
	return ""
}

// ensureTemplate makes spec's template in the background if it has none.
func (m *Manager) ensureTemplate(spec Spec, rt Runtime) {
	if !m.cfg.Templates {
		return
	}
	if _, ok := m.cfg.Driver.(hypervisor.Restorer); !ok {
		return
	}
	key := m.templateKey(spec, rt)
	m.tplMu.Lock()
	if m.tpl[key] != nil || m.tplBuilding[key] || m.tplBroken[key] {
		m.tplMu.Unlock()
		return
	}
	if m.tplBuilding == nil {
		m.tplBuilding = map[string]bool{}
	}
	m.tplBuilding[key] = true
	m.tplMu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		var err error
		defer func() {
			m.tplMu.Lock()
			delete(m.tplBuilding, key)
			if m.tplErr == nil {
				m.tplErr = map[string]error{}
			}
			m.tplErr[key] = err
			m.tplChangedLocked()
			m.tplMu.Unlock()
		}()
		// background.go: the builder is admitted into what sandboxes
		// leave free, or skipped (creates cold boot meanwhile).
		bgID := "build:" + key
		if err = m.admitBackground(bgID, bgTemplate, spec); err != nil {
			m.log.Info("template build skipped", "key", key, "err", err)
			return
		}
		start := time.Now()
		ref, err := m.buildTemplate(m.life, key, spec, rt)
		m.releaseBackground(bgID)
		if err != nil {
			m.log.Warn("building template failed; creates cold boot", "key", key, "err", err)
			return
		}
		m.evictTemplates(m.life, key)
		m.tplMu.Lock()
		evicted := m.tpl[key] != ref
		m.tplMu.Unlock()
		if evicted {
			return
		}
		m.fillWarm(key, ref, spec)
		m.log.Info("template ready", "template", ref.id, "key", key, "took", time.Since(start).Round(time.Millisecond))
	}()
}

// buildTemplate boots a clean guest of spec's shape, waits until it is
// healthy, snapshots it and throws the VM away.
func (m *Manager) buildTemplate(ctx context.Context, key string, spec Spec, rt Runtime) (*snapshotRef, error) {
	id := newID(templatePrefix)
	cfg := m.vmConfig(id, spec, rt)
	cmdline := []string{"volant.hostname=template"}
	if rt.Cmdline != "" {
		cmdline = append(cmdline, rt.Cmdline)
	}
	// The template's interface has the backend its restores will have
	// (the VMM's device state differs between them); restores are
	// reconfigured through the agent with their own address and MAC.
	switch spec.Network {
	case NetworkUser:
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser, MAC: userMAC(id)}
		cmdline = append(cmdline, userNetCmdline(m.cfg.Driver.Capabilities().UserNetAddr)...)
	case NetworkBridge:
		if m.cfg.Network == nil {
			return nil, fmt.Errorf("bridge networking is off")
		}
		tap := network.TapName(id)
		if err := m.cfg.Network.CreateTap(ctx, tap); err != nil {
			return nil, err
		}
		defer func() { _ = m.cfg.Network.DeleteTap(context.WithoutCancel(ctx), tap) }()
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetTap, Tap: tap, MAC: userMAC(id)}
	}
	if spec.image != nil {
		// images.go: the template's own copy-on-write layer, frozen into
		// the template by the snapshot (a hard link), so removed after.
		disks, args, err := m.imageDisks(ctx, spec.image, m.rootDiskPath(id))
		defer m.removeDisk(id)
		if err != nil {
			return nil, err
		}
		cfg.Disks = append(cfg.Disks, disks...)
		cmdline = append(cmdline, args...)
	}
	cfg.Cmdline = strings.Join(cmdline, " ")
	defer os.Remove(cfg.MemoryFile)
	vm, err := m.cfg.Driver.Boot(ctx, cfg)
	if err != nil {
		_ = os.RemoveAll(cfg.Dir)
		return nil, err
	}
	defer func() { _ = vm.Kill(); _ = os.RemoveAll(cfg.Dir) }()
	snapper, ok := vm.(hypervisor.Snapshotter)
	if !ok {
		return nil, fmt.Errorf("the %s driver cannot snapshot", m.cfg.Driver.Name())
	}
	agent := client.New(vm.DialAgent)
	if err := m.waitAgent(ctx, vm, func(ctx context.Context) error {
		return templateReady(ctx, agent, spec.Network, cfg.Net.MAC, m.cfg.Driver.Capabilities().UserNetAddr)
	}); err != nil {
		return nil, err
	}
	if err := m.setupImage(ctx, agent, spec.image); err != nil { // images.go
		return nil, err
	}
	if err := m.setupPlugin(ctx, agent, rt); err != nil {
		return nil, err
	}
	m.warmGuest(ctx, agent, id, spec.Network)
	in := &instance{vm: vm, agent: agent}
	man := Manifest{
		Runtime: spec.Runtime, Image: rt.digest(), Template: true, Key: key,
		VCPUs: spec.VCPUs, MemoryMiB: spec.MemoryMiB, HasNet: spec.Network != NetworkNone, Network: spec.Network,
		RootImage: recordOf(spec.image),
	}
	sn, man, err := m.snapshotVM(ctx, snapper, in, id, man)
	if err != nil {
		return nil, err
	}
	// Creates use the template from the moment its record is listed, not
	// only once the template's own VM is gone (killing it takes a while).
	ref := &snapshotRef{id: sn.ID, dir: sn.Dir, man: man}
	m.tplMu.Lock()
	m.tpl[key] = ref
	m.touchTemplateLocked(key)
	m.tplChangedLocked()
	m.tplMu.Unlock()
	return ref, nil
}

// templateReady succeeds once a template guest is fully ready to be
// snapshotted: its agent answers and its network device is there (on a
// busy host the device can come up after the agent). Every restore
// inherits what the snapshot holds, so a template taken before its
// interface exists gives sandboxes without a network.
func templateReady(ctx context.Context, agent *client.Client, mode NetworkMode, mac string, un hypervisor.UserNetAddr) error {
	switch mode {
	case NetworkUser:
		// The address and route it booted with, read back by the agent.
		_, err := agent.Reconfigure(ctx, client.ReconfigureRequest{IPCIDR: un.IP, Gateway: un.Gateway})
		return err
	case NetworkBridge:
		// The interface stays down (clones bring it up with their own
		// MAC), but it must exist.
		// Read through the agent's files API: an image root may have no cat.
		b, err := agent.ReadFileAll(ctx, "/sys/class/net/eth0/address", 64)
		if err != nil {
			return fmt.Errorf("the template guest's eth0 is not there yet: %w", err)
		}
		if got := strings.TrimSpace(string(b)); !strings.EqualFold(got, mac) {
			return fmt.Errorf("the template guest's eth0 has MAC %q, want %q", got, mac)
		}
		return nil
	default:
		_, err := agent.Ready(ctx)
		return err
	}
}

// PluginsChanged removes the templates, and their warm guests, of plugin
// runtimes that went away or changed (a plugin disabled, removed or
// reinstalled). The daemon calls it when the plugin registry changes.
func (m *Manager) PluginsChanged(ctx context.Context) {
	refs := m.templateRefs()
	for _, ref := range refs {
		if _, builtin := m.runtimes[ref.man.Runtime]; builtin {
			continue
		}
		if rt, err := m.runtime(ctx, ref.man.Runtime); err == nil && rt.digest() == ref.man.Image {
			continue
		}
		m.log.Info("removing the template of a changed runtime", "template", ref.id, "runtime", ref.man.Runtime)
		if err := m.DeleteSnapshot(ctx, ref.id); err != nil {
			m.log.Warn("removing a template", "template", ref.id, "err", err)
		}
	}
}

// RuntimeInUse counts the sandboxes, in any state, of runtime name, and
// the creates of it under way; the plugin registry asks before it
// disables or removes a plugin.
func (m *Manager) RuntimeInUse(ctx context.Context, name string) (int, error) {
	m.mu.Lock()
	n := m.pending[name]
	m.mu.Unlock()
	cursor := ""
	for {
		page, err := m.List(ctx, ListOptions{Runtime: name, Cursor: cursor, Limit: 500})
		if err != nil {
			return 0, err
		}
		n += len(page.Items)
		if page.Next == "" {
			return n, nil
		}
		cursor = page.Next
	}
}

// creating counts a create of runtime name as under way until the
// returned function is called.
func (m *Manager) creating(name string) (done func()) {
	m.mu.Lock()
	if m.pending == nil {
		m.pending = map[string]int{}
	}
	m.pending[name]++
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		if m.pending[name]--; m.pending[name] <= 0 {
			delete(m.pending, name)
		}
		m.mu.Unlock()
	}
}

// templateRefs returns the templates there are now, so a caller can walk
// them without holding tplMu.
func (m *Manager) templateRefs() []*snapshotRef {
	m.tplMu.Lock()
	defer m.tplMu.Unlock()
	refs := make([]*snapshotRef, 0, len(m.tpl))
	for _, ref := range m.tpl {
		refs = append(refs, ref)
	}
	return refs
}

// warmGuest runs, in a template's guest before its snapshot, what every
// restore of it runs first: a reconfigure of the kind a create makes
// (warmIdentity: hostname, time, entropy and, on a bridge, a MAC and an
// address the create's replaces) and an exec; then it lets the guest
// kernel finish the work its boot deferred (the agent's Settle), which every
// restore would otherwise run first. Their first run in a guest
// does one-time work (the agent's lazily made state, its runtime's threads
// and buffers, the kernel's caches for the files, links and pipes they
// use); done here, it is in the snapshot, and every restore's first
// requests run less new code, which under TCG is what they cost
// (BenchmarkCreateToFirstExec on a quiet machine: a template restore's
// create to first exec ~280 → ~245 ms, its first exec ~125 → ~80 ms; on
// a loaded one, where a restore took ~420 ms, paired runs showed no
// difference).
// Errors are only logged: a template works without, and an image root may
// have no true.
func (m *Manager) warmGuest(ctx context.Context, agent *client.Client, id string, mode NetworkMode) {
	if _, err := agent.Reconfigure(ctx, warmIdentity(id, mode)); err != nil {
		m.log.Debug("warming the template guest: reconfigure", "template", id, "err", err)
	}
	if _, err := agent.Exec(ctx, client.ExecRequest{Argv: []string{"true"}}, nil); err != nil {
		m.log.Debug("warming the template guest: exec", "template", id, "err", err)
	}
	// And the kernel's own deferred boot work (kestrel/system.Settle).
	if d, err := agent.Settle(ctx); err != nil {
		m.log.Debug("warming the template guest: settle", "template", id, "err", err)
	} else if d > 0 {
		m.log.Debug("warming the template guest: the kernel settled", "template", id, "waited", d)
	}
}
