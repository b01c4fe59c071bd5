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
func Sysctls() []Sysctl {
	return []Sysctl{
		{Key: "vm/compaction_proactiveness", Value: "0", Why: "proactive compaction wakes an idle guest twice a second"},
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
