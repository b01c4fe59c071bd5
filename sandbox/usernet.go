package sandbox

import (
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// checkUserNet refuses network "user" on a driver whose VMM has no
// user-mode network stack, and on a daemon with bridge networking unless
// the operator allows it (Config.AllowUserNetwork, or user as the default
// network): a user-mode guest is outside the bridge's firewall and egress
// policy and reaches the host's loopback services.
func (m *Manager) checkUserNet(mode NetworkMode) error {
	if mode != NetworkUser {
		return nil
	}
	if m.cfg.Network != nil && !m.cfg.AllowUserNetwork && m.cfg.Defaults.Network != NetworkUser {
		return errdefs.Invalid("network user is turned off on this daemon: it has bridge networking, and a user-mode guest " +
			"would bypass the bridge's firewall and egress policy and reach the host's loopback services; " +
			"use network \"bridge\" (the default) or \"none\", or ask the operator to set allow_user_network")
	}
	if m.cfg.Driver.Capabilities().UserNet {
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
