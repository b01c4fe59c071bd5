package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// pssTTL is how long one measurement of a VMM's PSS is reused: admission
// reads every live VMM's smaps_rollup, which walks its page tables, and a
// burst of creates on a saturated host should not do that once per create.
const pssTTL = 2 * time.Second

// pssCache remembers each VMM's last measured PSS, keyed by pid.
type pssCache struct {
	mu   sync.Mutex
	byID map[int]pssEntry
}

type pssEntry struct {
	kib int64
	at  time.Time
}

// measure returns the PSS in KiB of each pid that could be read; a pid
// that is gone is left out (its VM is exiting).
func (c *pssCache) measure(pids []int) map[int]int64 {
	now := time.Now()
	out := make(map[int]int64, len(pids))
	var stale []int
	c.mu.Lock()
	if c.byID == nil {
		c.byID = map[int]pssEntry{}
	}
	for _, pid := range pids {
		if e, ok := c.byID[pid]; ok && now.Sub(e.at) < pssTTL {
			out[pid] = e.kib
		} else {
			stale = append(stale, pid)
		}
	}
	c.mu.Unlock()
	fresh := make(map[int]int64, len(stale))
	for _, pid := range stale {
		if kib, err := readPSS(pid); err == nil {
			fresh[pid] = kib
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for pid, kib := range fresh {
		c.byID[pid] = pssEntry{kib: kib, at: now}
		out[pid] = kib
	}
	// Forget pids no longer asked about, so the cache stays the size of
	// the live VMs.
	if len(c.byID) > 2*len(pids)+16 {
		keep := make(map[int]bool, len(pids))
		for _, pid := range pids {
			keep[pid] = true
		}
		for pid := range c.byID {
			if !keep[pid] {
				delete(c.byID, pid)
			}
		}
	}
	return out
}

// readPSS reads the proportional set size (KiB) of pid from
// /proc/<pid>/smaps_rollup: pages shared with other processes (a template
// clone's untouched RAM, the VMM's libraries) count a share each.
func readPSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	return parsePSS(b)
}

// parsePSS finds the "Pss:" line of an smaps_rollup file.
func parsePSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		rest, ok := bytes.CutPrefix(line, []byte("Pss:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("smaps_rollup: bad Pss value %q", f[0])
		}
		return n, nil
	}
	return 0, fmt.Errorf("smaps_rollup: no Pss line")
}
