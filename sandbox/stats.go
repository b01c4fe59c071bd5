package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// UsageStats is what one running sandbox uses on the host, measured from its
// VMM process: the figures a node agent (the Kubernetes provider's
// /stats/summary) reports per sandbox.
type UsageStats struct {
	// ID is the sandbox's id.
	ID string `json:"id"`
	// Time is when the figures were read.
	Time time.Time `json:"time"`
	// CPUSeconds is the CPU time the VMM has used since it started (user
	// plus system, every vCPU and the VMM's own threads).
	CPUSeconds float64 `json:"cpu_seconds"`
	// MemoryPSSBytes is the VMM's proportional set size: guest RAM it
	// touched plus its own, pages shared with other VMMs (a template
	// clone's untouched RAM) counted a share each. Admission counts the
	// same figure.
	MemoryPSSBytes int64 `json:"memory_pss_bytes"`
	// MemoryRSSBytes is the VMM's resident set size, shared pages counted
	// in full.
	MemoryRSSBytes int64 `json:"memory_rss_bytes"`
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// Stats measures a running sandbox's VMM. A sandbox that is not running
// has no VMM to measure: ErrConflict.
func (m *Manager) Stats(ctx context.Context, idOrName string) (*UsageStats, error) {
	sb, err := m.Get(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	if sb.State != StateRunning || sb.PID <= 0 {
		return nil, errdefs.Conflict("sandbox %s is %s: usage is measured only while it runs", sb.ID, sb.State)
	}
	now := time.Now()
	cpu, rss, err := readProcStat(sb.PID)
	if err != nil {
		return nil, fmt.Errorf("measuring sandbox %s: %w", sb.ID, err)
	}
	pss, err := readPSS(sb.PID)
	if err != nil {
		return nil, fmt.Errorf("measuring sandbox %s: %w", sb.ID, err)
	}
	return &UsageStats{ID: sb.ID, Time: now, CPUSeconds: cpu, MemoryPSSBytes: pss << 10, MemoryRSSBytes: rss}, nil
}

// readProcStat reads a process's CPU seconds (utime+stime) and resident
// bytes from /proc/<pid>/stat.
func readProcStat(pid int) (float64, int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseProcStat(b, int64(os.Getpagesize()))
}

// parseProcStat parses a /proc/<pid>/stat line. The command name (field 2)
// is in parentheses and may hold spaces, so fields count from the last ')'.
func parseProcStat(b []byte, pageSize int64) (float64, int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc stat line")
	}
	// After ')': field 3 (state) is f[0]; utime is field 14, stime 15,
	// rss (pages) 24.
	f := bytes.Fields(b[i+1:])
	if len(f) < 22 {
		return 0, 0, fmt.Errorf("short /proc stat line (%d fields)", len(f)+2)
	}
	num := func(k int) (int64, error) { return strconv.ParseInt(string(f[k-3]), 10, 64) }
	ut, err1 := num(14)
	st, err2 := num(15)
	rss, err3 := num(24)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, fmt.Errorf("malformed /proc stat line")
	}
	return float64(ut+st) / clockTicks, rss * pageSize, nil
}
