package sandbox

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"time"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/network"
)

// The warm pool: guests restored from a template ahead of time and warmed
// up (the agent has answered and run a command, so under TCG its code is
// already translated). A create takes one and only gives it its identity.
// Pooled guests are not sandboxes: they hold no lease and no record, and
// a daemon restart sweeps them away.

const warmPrefix = "warm-"

// warmVM is one pooled guest.
type warmVM struct {
	id    string // its background reservation (background.go)
	vm    hypervisor.VM
	agent *client.Client
	tap   string
}

// kill throws a pooled guest away.
func (w *warmVM) kill(m *Manager) {
	defer m.releaseBackground(w.id)
	_ = w.vm.Kill()
	_ = os.RemoveAll(w.vm.Dir())
	if w.tap != "" && m.cfg.Network != nil {
		_ = m.cfg.Network.DeleteTap(context.Background(), w.tap)
	}
}

// takeWarm pops a pooled guest of key, if any, and starts a refill.
func (m *Manager) takeWarm(key string, ref *snapshotRef, spec Spec) *warmVM {
	if m.cfg.WarmPool <= 0 {
		return nil
	}
	m.tplMu.Lock()
	var w *warmVM
	if pool := m.warm[key]; len(pool) > 0 {
		w = pool[len(pool)-1]
		m.warm[key] = pool[:len(pool)-1]
	}
	m.tplMu.Unlock()
	if w != nil {
		select {
		case <-w.vm.Done():
			w.kill(m)
			w = nil
		default:
			// It becomes the sandbox, admitted as such: the pool's
			// reservation goes before the refill asks for one.
			m.releaseBackground(w.id)
		}
	}
	m.fillWarm(key, ref, spec)
	return w
}

// fillWarm restores guests in the background until key's pool is full.
func (m *Manager) fillWarm(key string, ref *snapshotRef, spec Spec) {
	if m.cfg.WarmPool <= 0 || ref == nil {
		return
	}
	m.tplMu.Lock()
	if m.warm == nil {
		m.warm, m.warmFilling = map[string][]*warmVM{}, map[string]int{}
	}
	need := m.cfg.WarmPool - len(m.warm[key]) - m.warmFilling[key]
	if need <= 0 || m.life.Err() != nil {
		m.tplMu.Unlock()
		return
	}
	m.warmFilling[key] += need
	m.tplMu.Unlock()
	for range need {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			w, err := m.restoreWarm(m.life, ref, spec)
			m.tplMu.Lock()
			m.warmFilling[key]--
			ok := err == nil && m.life.Err() == nil && m.tpl[key] == ref
			if ok {
				m.warm[key] = append(m.warm[key], w)
			}
			if m.warmErr == nil {
				m.warmErr = map[string]error{}
			}
			m.warmErr[key] = err
			m.tplChangedLocked()
			m.tplMu.Unlock()
			if err != nil {
				m.log.Debug("warm pool restore failed", "key", key, "err", err)
			} else if !ok {
				w.kill(m)
			}
		}()
	}
}

// restoreWarm restores one guest from ref and warms it up.
func (m *Manager) restoreWarm(ctx context.Context, ref *snapshotRef, spec Spec) (*warmVM, error) {
	restorer, ok := m.cfg.Driver.(hypervisor.Restorer)
	if !ok {
		return nil, errors.New("the driver cannot restore")
	}
	id := newID(warmPrefix)
	// background.go: a warm guest only takes what sandboxes leave free.
	if err := m.admitBackground(id, bgWarm, spec); err != nil {
		return nil, err
	}
	cfg := m.vmConfig(id, spec, m.imageOf(spec.Runtime))
	cfg.MemoryFile = ""
	w := &warmVM{id: id}
	switch spec.Network {
	case NetworkUser:
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser, MAC: userMAC(id)}
	case NetworkBridge:
		w.tap = network.TapName(id)
		if err := m.cfg.Network.CreateTap(ctx, w.tap); err != nil {
			m.releaseBackground(id)
			return nil, err
		}
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetTap, Tap: w.tap, MAC: userMAC(id)}
	}
	vm, err := restorer.Restore(ctx, cfg, ref.dir)
	if err != nil {
		m.releaseBackground(id)
		_ = os.RemoveAll(cfg.Dir)
		if w.tap != "" {
			_ = m.cfg.Network.DeleteTap(context.WithoutCancel(ctx), w.tap)
		}
		return nil, err
	}
	w.vm, w.agent = vm, client.New(vm.DialAgent)
	warmup := func(ctx context.Context) error {
		if _, err := w.agent.Health(ctx); err != nil {
			return err
		}
		if _, err := w.agent.Reconfigure(ctx, warmIdentity(id, spec.Network)); err != nil {
			return err
		}
		_, err := w.agent.Exec(ctx, client.ExecRequest{Argv: []string{"true"}, TimeoutMS: 10000}, nil)
		return err
	}
	if err := m.waitAgent(ctx, vm, warmup); err != nil {
		w.kill(m)
		return nil, err
	}
	return w, nil
}

// warmIdentity is the identity a pooled guest is given while it waits:
// the clock set to now (the template's clock is stale, and the jump fires
// the guest's overdue timers here rather than in a create), and the same
// kind of network change a create makes, so the guest code a create's
// reconfigure runs is translated already under TCG. A bridge guest gets its
// own MAC and an address of TEST-NET-1 (RFC 5737, never routed), which the
// create's reconfigure replaces, and no default route, so nothing a pooled
// guest sends can leave its link; a user-mode guest keeps its network as
// it is (so does its create: reconfigure).
func warmIdentity(id string, mode NetworkMode) client.ReconfigureRequest {
	entropy := make([]byte, 64)
	_, _ = rand.Read(entropy)
	req := client.ReconfigureRequest{Hostname: id, TimeUnixNS: time.Now().UnixNano(), Entropy: entropy}
	if mode == NetworkBridge {
		req.MAC, req.IPCIDR = userMAC(id), "192.0.2.2/24"
	}
	return req
}

// drainWarm throws every pooled guest away (at Close).
func (m *Manager) drainWarm() {
	m.tplMu.Lock()
	pools := m.warm
	m.warm = nil
	m.tplMu.Unlock()
	for _, pool := range pools {
		for _, w := range pool {
			w.kill(m)
		}
	}
}
