package pid1

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
)

// Sysctl is one kernel setting the agent makes at boot: the file under
// /proc/sys and its value.
type Sysctl struct {
	Key, Value string
	// Why is logged when the setting fails.
	Why string
}

// Sysctls is what the agent sets as PID 1 so that an idle guest costs the
// host as little as it can. Under TCG every guest wake-up is dear (the
// vCPU and QEMU's main loop both wake): measured on the 2-core test
// machine (BenchmarkIdleCPU), an idle guest cost ~0.30% of a host core
// with the kernel's default proactive compaction (kcompactd scores the
// zones every 500 ms) and ~0.10-0.15% without it. Compaction on demand (an allocation that needs
// it) still happens; only the background work for huge pages stops, which
// a guest of a few hundred MiB does not need.
//
// IPv6 is off on the interfaces made after these are set (the NIC, whose
// driver is a module loaded next), not on lo: guests have no IPv6 route
// out (the host rejects it), and a restored guest's first reconfigure
// takes the link down and up to change its MAC, after which IPv6
// autoconfiguration (a link-local address, duplicate address detection,
// router solicitation, their netlink notices) ran while the create's first
// exec waited, all of it guest code translated afresh by each new QEMU
// under TCG. Without it a restore's first answer came 12 % fewer
// translated blocks and ~15 ms sooner. ::1 still works, for servers that
// bind only to it.
func Sysctls() []Sysctl {
	return []Sysctl{
		{Key: "vm/compaction_proactiveness", Value: "0", Why: "proactive compaction wakes an idle guest twice a second"},
		{Key: "net/ipv6/conf/default/disable_ipv6", Value: "1", Why: "IPv6 autoconfiguration on the uplink after each restore costs the first request"},
	}
}

// ApplySysctls writes each setting under root (/proc/sys in the guest). A
// kernel without the setting is fine (logged at debug); other failures
// are warnings. It returns how many were set.
func ApplySysctls(root string, list []Sysctl, log *slog.Logger) int {
	n := 0
	for _, s := range list {
		err := os.WriteFile(filepath.Join(root, s.Key), []byte(s.Value+"\n"), 0o644)
		switch {
		case err == nil:
			n++
		case errors.Is(err, os.ErrNotExist):
			log.Debug("sysctl not in this kernel", "key", s.Key)
		default:
			log.Warn("setting sysctl", "key", s.Key, "value", s.Value, "why", s.Why, "err", err)
		}
	}
	return n
}
