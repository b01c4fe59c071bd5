package network

import (
	"bytes"
	"fmt"
	"os"
)

// ipForwardPath is the IPv4 forwarding switch. Files under /proc/sys/net
// belong to the network namespace of the thread that opens them.
const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

// ensureIPForward switches IPv4 forwarding on in the Manager's namespace,
// writing only when it is off.
func (m *Manager) ensureIPForward() error {
	err := m.inNamespace(func() error {
		cur, err := os.ReadFile(ipForwardPath)
		if err != nil {
			return err
		}
		if string(bytes.TrimSpace(cur)) == "1" {
			return nil
		}
		m.log.Info("enabling ipv4 forwarding")
		return os.WriteFile(ipForwardPath, []byte("1\n"), 0o644)
	})
	if err != nil {
		return fmt.Errorf("network: enabling ipv4 forwarding: %w", classify(err))
	}
	return nil
}
