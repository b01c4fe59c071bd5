package sandbox_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/internal/benchfig"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
	"golang.org/x/sys/unix"
)

// BenchmarkHibernateWake hibernates one idle sandbox and wakes it with an
// `exec true`: the hibernate call's time, and the wake latency (the exec
// that finds it hibernated, restores it and answers).
func BenchmarkHibernateWake(b *testing.B) {
	var tl timingLog
	env := sandboxtest.New(b, func(c *sandbox.Config) { c.Logger = tl.logger() })
	m := env.Manager
	ctx := context.Background()
	sb, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	var hib, wake []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := m.Hibernate(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
		hib = append(hib, time.Since(start))
		start = time.Now()
		if _, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"true"}}, nil); err != nil {
			b.Fatal(err)
		}
		wake = append(wake, time.Since(start))
	}
	benchfig.Durations(b, "hibernate", hib)
	benchfig.Durations(b, "wake-to-exec-true", wake)
	tl.report(b)
}

// BenchmarkIdleAdmitted creates idle 256 MiB sandboxes with the daemon's
// default admission (cpu_overcommit 32, memory by measured PSS, 1 GiB
// headroom) until admission refuses or VOLANT_BENCH_IDLE_MAX (default 60)
// are running, then asks each for `exec true`. It reports how many were
// admitted and answered, and the exec latencies with all of them idle.
func BenchmarkIdleAdmitted(b *testing.B) {
	limit := 60
	if v, err := strconv.Atoi(os.Getenv("VOLANT_BENCH_IDLE_MAX")); err == nil && v > 0 {
		limit = v
	}
	host := hostSize()
	env := sandboxtest.New(b, func(c *sandbox.Config) {
		c.Templates, c.WarmPool = true, 0
		c.Host = host
		c.Budget = sandbox.Capacity{VCPUs: host.CPUs * 32, MemoryMiB: 2 * (host.MemoryMiB - host.HeadroomMiB)}
	})
	m := env.Manager
	ctx := context.Background()
	for b.Loop() {
		var ids []string
		for len(ids) < limit {
			sb, err := m.Create(ctx, sandbox.Spec{MemoryMiB: 256})
			if errors.Is(err, errdefs.ErrResourceExhausted) {
				b.Logf("admission refused sandbox %d: %v", len(ids)+1, err)
				break
			}
			if err != nil {
				b.Fatalf("create %d: %v", len(ids)+1, err)
			}
			ids = append(ids, sb.ID)
		}
		var lat []time.Duration
		for _, id := range ids {
			start := time.Now()
			if _, err := m.Exec(ctx, id, sandbox.ExecRequest{Cmd: []string{"true"}}, nil); err == nil {
				lat = append(lat, time.Since(start))
			}
		}
		mu := m.Measured()
		benchfig.Value(b, "idle-sandboxes-admitted", "n", float64(len(ids)))
		benchfig.Value(b, "idle-sandboxes-answering", "n", float64(len(lat)))
		benchfig.Value(b, "pss-per-idle-sandbox", "MiB", float64(mu.PSSMiB)/float64(max(mu.VMs, 1)))
		benchfig.Durations(b, "exec-true-all-idle", lat)
		for _, id := range ids {
			_ = m.Delete(ctx, id)
		}
	}
}

// hostSize is this host as the daemon sizes it (1 GiB headroom).
func hostSize() sandbox.HostSize {
	h := sandbox.HostSize{CPUs: runtime.NumCPU(), HeadroomMiB: 1024}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		h.MemoryMiB = int(uint64(si.Totalram) * uint64(si.Unit) >> 20)
	}
	return h
}

// BenchmarkHibernatedFleet makes VOLANT_BENCH_FLEET sandboxes (default
// 500) exist at once, most of them hibernated: it creates them one after
// another (from the warm pool) and hibernates each but the last
// VOLANT_BENCH_FLEET_RUNNING (default 4), within VOLANT_BENCH_FLEET_BUDGET
// (default 15m; it stops early and reports how far it got). Then it asks
// up to 20 random hibernated ones for `exec true`: the wake-to-exec
// latency with the fleet there. Figures: how many exist, how long making
// them took, the wake latencies, and the idle CPU of the ones that never
// hibernated, with the fleet there.
func BenchmarkHibernatedFleet(b *testing.B) {
	target := envInt("VOLANT_BENCH_FLEET", 500)
	running := envInt("VOLANT_BENCH_FLEET_RUNNING", 4)
	budget := 15 * time.Minute
	if v, err := time.ParseDuration(os.Getenv("VOLANT_BENCH_FLEET_BUDGET")); err == nil && v > 0 {
		budget = v
	}
	host := hostSize()
	env := sandboxtest.New(b, func(c *sandbox.Config) {
		c.Templates, c.WarmPool = true, 2
		c.Host = host
		c.Budget = sandbox.Capacity{VCPUs: host.CPUs * 32, MemoryMiB: 2 * (host.MemoryMiB - host.HeadroomMiB)}
	})
	m := env.Manager
	ctx := context.Background()
	waitWarm(b, m, sandbox.Spec{})
	for b.Loop() {
		start := time.Now()
		var hibernated []string
		var runningPIDs []int
		made := 0
		for made < target && time.Since(start) < budget {
			sb, err := m.Create(ctx, sandbox.Spec{})
			if err != nil {
				b.Logf("create %d: %v", made+1, err)
				break
			}
			made++
			if target-made < running {
				runningPIDs = append(runningPIDs, sb.PID)
				continue // the last few stay running
			}
			if _, err := m.Hibernate(ctx, sb.ID); err != nil {
				b.Fatalf("hibernate %d: %v", made, err)
			}
			hibernated = append(hibernated, sb.ID)
			if made%50 == 0 {
				b.Logf("%d sandboxes, %d hibernated, after %s", made, len(hibernated), time.Since(start).Round(time.Second))
			}
		}
		took := time.Since(start)
		var wake []time.Duration
		for _, i := range rand.Perm(len(hibernated))[:min(20, len(hibernated))] {
			t0 := time.Now()
			if _, err := m.Exec(ctx, hibernated[i], sandbox.ExecRequest{Cmd: []string{"true"}}, nil); err != nil {
				b.Fatalf("waking %s: %v", hibernated[i], err)
			}
			wake = append(wake, time.Since(t0))
		}
		benchfig.Value(b, "fleet-sandboxes", "n", float64(made))
		benchfig.Value(b, "fleet-hibernated", "n", float64(len(hibernated)))
		benchfig.Value(b, "fleet-build", "s", took.Seconds())
		benchfig.Durations(b, "fleet-wake-to-exec-true", wake)
		// What the never-hibernated ones cost idle while the rest of the
		// fleet is on disk, measured as BenchmarkIdleCPU measures.
		if len(runningPIDs) > 0 {
			benchfig.Report(b, "fleet-idle-cpu-per-running-guest", "%core", idleCPU(b, runningPIDs))
		}
		env.DeleteAll(b)
	}
}

// envInt is the whole number in the environment variable name, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
