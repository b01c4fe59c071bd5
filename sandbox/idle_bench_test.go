package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/internal/benchfig"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// BenchmarkIdleCPU creates VOLANT_BENCH_IDLE_GUESTS (default 4) sandboxes
// the default way (restored from the template), runs `true` in each, lets
// them settle and reports what they cost idle: each VMM's user + system
// time over a 30 s window in % of one host core, and the engine's own (this
// process's) per idle sandbox over the same window.
func BenchmarkIdleCPU(b *testing.B) {
	n := 4
	if v, err := strconv.Atoi(os.Getenv("VOLANT_BENCH_IDLE_GUESTS")); err == nil && v > 0 {
		n = v
	}
	env := sandboxtest.New(b, func(c *sandbox.Config) { c.Templates, c.WarmPool = true, 0 })
	m := env.Manager
	ctx := context.Background()
	waitWarm(b, m, sandbox.Spec{})
	for b.Loop() {
		var pids []int
		var ids []string
		for range n {
			sb, err := m.Create(ctx, sandbox.Spec{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"true"}}, nil); err != nil {
				b.Fatal(err)
			}
			ids, pids = append(ids, sb.ID), append(pids, sb.PID)
		}
		self := os.Getpid()
		pct := idleCPU(b, append(pids, self))
		benchfig.Report(b, "idle-cpu-per-guest", "%core", pct[:n])
		benchfig.Value(b, "idle-engine-cpu-per-guest", "%core", pct[n]/float64(n))
		for _, id := range ids {
			_ = m.Delete(ctx, id)
		}
	}
}

// idleCPU lets pids settle for 10 s (creates are noisy), then returns the
// CPU each used over a 30 s window, in % of one host core.
func idleCPU(b testing.TB, pids []int) []float64 {
	time.Sleep(10 * time.Second)
	before := make([]int64, len(pids))
	for i, pid := range pids {
		before[i] = procCPUNs(b, pid)
	}
	start := time.Now()
	time.Sleep(30 * time.Second)
	secs := time.Since(start).Seconds()
	pct := make([]float64, len(pids))
	for i, pid := range pids {
		pct[i] = 100 * float64(procCPUNs(b, pid)-before[i]) / 1e9 / secs
	}
	return pct
}

// procCPUNs is the CPU time pid's threads have run, in nanoseconds, from
// /proc/PID/task/*/schedstat: nanoseconds where utime + stime count 10 ms
// ticks (an idle guest runs ~45 ms in a 30 s window). Threads that end
// within the window are not counted; an idle QEMU starts and ends none.
func procCPUNs(b testing.TB, pid int) int64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		b.Fatal(err)
	}
	var sum int64
	for _, t := range tasks {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		if f := strings.Fields(string(raw)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += ns
		}
	}
	return sum
}
