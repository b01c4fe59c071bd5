package sandbox_test

import (
	"bytes"
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
		time.Sleep(10 * time.Second) // creates are noisy: settle first
		self := os.Getpid()
		before := map[int]int64{self: procTicks(b, self)}
		for _, pid := range pids {
			before[pid] = procTicks(b, pid)
		}
		start := time.Now()
		time.Sleep(30 * time.Second)
		secs := time.Since(start).Seconds()
		var pct []float64
		for _, pid := range pids {
			pct = append(pct, 100*float64(procTicks(b, pid)-before[pid])/100/secs)
		}
		benchfig.Report(b, "idle-cpu-per-guest", "%core", pct)
		engine := 100 * float64(procTicks(b, self)-before[self]) / 100 / secs
		benchfig.Value(b, "idle-engine-cpu-per-guest", "%core", engine/float64(n))
		for _, id := range ids {
			_ = m.Delete(ctx, id)
		}
	}
}

// procTicks is the user + system time of pid (all threads) in clock ticks
// (USER_HZ, 100 on every Linux this runs on).
func procTicks(b testing.TB, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}
