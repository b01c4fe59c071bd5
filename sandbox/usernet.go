package sandbox

import (
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// checkUserNet refuses network "user" on a driver whose VMM has no
// user-mode network stack.
func (m *Manager) checkUserNet(mode NetworkMode) error {
	if mode != NetworkUser || m.cfg.Driver.Capabilities().UserNet {
		return nil
	}
	alt := `"none"`
	if m.cfg.Network != nil {
		alt = `"bridge" or "none"`
	}
	return errdefs.Invalid("network user is not available with the %s driver (its VMM has no user-mode network stack); use network %s", m.cfg.Driver.Name(), alt)
}

// userNetCmdline is the guest's kernel arguments for the driver's
// user-mode network addressing.
func userNetCmdline(un hypervisor.UserNetAddr) []string {
	args := []string{"volant.ip=" + un.IP, "volant.gw=" + un.Gateway}
	if un.DNS != "" {
		args = append(args, "volant.dns="+un.DNS)
	}
	return args
}

// defaultNetwork is the network of sandboxes that do not say: the bridge
// when there is one, else the VMM's user-mode stack when it has one, else
// none.
func defaultNetwork(d hypervisor.Driver, bridge bool) NetworkMode {
	switch {
	case bridge:
		return NetworkBridge
	case d.Capabilities().UserNet:
		return NetworkUser
	default:
		return NetworkNone
	}
}
