package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/volant-sh/volant/internal/benchfig"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// reportMedian reports the median and p90 of samples as custom metrics.
func reportMedian(b *testing.B, samples []time.Duration, unit string) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "median-"+unit)
	b.ReportMetric(float64(samples[len(samples)*9/10].Microseconds())/1000, "p90-"+unit)
}

// createToFirstExec creates a sandbox, runs `true` in it and returns the
// time from the create call to the exec's answer.
func createToFirstExec(b *testing.B, m *sandbox.Manager, spec sandbox.Spec) (time.Duration, *sandbox.Sandbox) {
	ctx := context.Background()
	start := time.Now()
	sb, err := m.Create(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"true"}}, nil); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), sb
}

// BenchmarkCreateToFirstExec compares, in one run (the ratios are the
// figures that matter): a cold boot; a restore from the runtime's template;
// and the default create, which takes a guest the warm pool restored from
// that template ahead of time.
func BenchmarkCreateToFirstExec(b *testing.B) {
	var tl timingLog
	env := sandboxtest.New(b, func(c *sandbox.Config) { c.Templates, c.WarmPool, c.Logger = true, 2, tl.logger() })
	defer tl.report(b)
	m := env.Manager
	ctx := context.Background()
	tpl := waitWarm(b, m, sandbox.Spec{})
	var cold, restore, pooled []time.Duration
	for b.Loop() {
		d, sb := createToFirstExec(b, m, sandbox.Spec{ColdBoot: true})
		cold = append(cold, d)
		_ = m.Delete(ctx, sb.ID)
		d, sb = createToFirstExec(b, m, sandbox.Spec{FromSnapshot: tpl})
		restore = append(restore, d)
		_ = m.Delete(ctx, sb.ID)
		d, sb = createToFirstExec(b, m, sandbox.Spec{})
		if sb.Boot != "restore" {
			b.Fatalf("default create booted %q, want restore", sb.Boot)
		}
		pooled = append(pooled, d)
		_ = m.Delete(ctx, sb.ID)
	}
	c := benchfig.Durations(b, "cold-create-to-first-exec", cold)
	r := benchfig.Durations(b, "template-restore-create-to-first-exec", restore)
	p := benchfig.Durations(b, "warm-pool-create-to-first-exec", pooled)
	benchfig.Ratio(b, "cold/template-restore", c, r)
	benchfig.Ratio(b, "cold/warm-pool", c, p)
	// The report's machine line reads the accelerator from here.
	if info, err := m.System(ctx); err == nil {
		b.Logf("accel=%s", info.Accel)
	}
}

func waitTemplate(b testing.TB, m *sandbox.Manager) string {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		snaps, _ := m.ListSnapshots(context.Background())
		for _, s := range snaps {
			if s.Template {
				return s.ID
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatal("no template snapshot after 3 minutes")
	return ""
}

// BenchmarkFork forks a running sandbox into 10 and into 50 clones: the
// fork call's wall time, and the PSS of each idle clone.
func BenchmarkFork(b *testing.B) {
	var tl timingLog
	env := sandboxtest.New(b, func(c *sandbox.Config) { c.Logger = tl.logger() })
	defer tl.report(b)
	m := env.Manager
	ctx := context.Background()
	src, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("count=%d", n), func(b *testing.B) {
			var walls []time.Duration
			var pss []float64
			for b.Loop() {
				start := time.Now()
				clones, err := m.Fork(ctx, src.ID, sandbox.ForkRequest{Count: n})
				if err != nil {
					b.Fatal(err)
				}
				walls = append(walls, time.Since(start))
				time.Sleep(2 * time.Second) // let the clones settle idle
				var sum float64
				for _, c := range clones {
					sum += pssMiB(c.PID)
				}
				pss = append(pss, sum/float64(len(clones)))
				for _, c := range clones {
					_ = m.Delete(ctx, c.ID)
				}
			}
			benchfig.Durations(b, fmt.Sprintf("fork%d-wall", n), walls)
			benchfig.Report(b, "pss-per-idle-clone", "MiB", pss)
		})
	}
}

// BenchmarkConcurrentCreates20 creates 20 sandboxes at once (the warm pool
// and the template there, as a daemon has them) and reports the wall time
// until all of them answered an `exec true`.
func BenchmarkConcurrentCreates20(b *testing.B) {
	env := sandboxtest.New(b, func(c *sandbox.Config) { c.Templates, c.WarmPool = true, 2 })
	m := env.Manager
	ctx := context.Background()
	waitWarm(b, m, sandbox.Spec{})
	var walls []time.Duration
	for b.Loop() {
		start := time.Now()
		ids := make([]string, 20)
		errs := make([]error, 20)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				sb, err := m.Create(ctx, sandbox.Spec{})
				if err == nil {
					ids[i] = sb.ID
					_, err = m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"true"}}, nil)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		walls = append(walls, time.Since(start))
		for i, id := range ids {
			if errs[i] != nil {
				b.Fatalf("create %d: %v", i, errs[i])
			}
			_ = m.Delete(ctx, id)
		}
		waitWarm(b, m, sandbox.Spec{})
	}
	benchfig.Durations(b, "20-concurrent-creates-wall", walls)
}

// pssMiB is a process's proportional set size.
func pssMiB(pid int) float64 {
	data, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "smaps_rollup"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			var kb float64
			fmt.Sscan(f[1], &kb)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkExecTrue is the round trip of `true` in a running guest.
func BenchmarkExecTrue(b *testing.B) {
	env := sandboxtest.New(b, nil)
	ctx := context.Background()
	sb, err := env.Manager.Create(ctx, sandbox.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	var samples []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := env.Manager.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"true"}}, nil); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	benchfig.Durations(b, "exec-true-round-trip", samples)
}

// BenchmarkFileWriteRead10MiB writes then reads 10 MiB through the agent.
func BenchmarkFileWriteRead10MiB(b *testing.B) {
	env := sandboxtest.New(b, nil)
	ctx := context.Background()
	sb, err := env.Manager.Create(ctx, sandbox.Spec{})
	if err != nil {
		b.Fatal(err)
	}
	g, err := env.Manager.Guest(ctx, sb.ID)
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte("volant!\n"), 10<<20/8)
	b.SetBytes(int64(2 * len(data)))
	var samples []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := g.WriteFile(ctx, sandbox.WriteFileRequest{Path: "/tmp/big"}, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		rc, err := g.ReadFile(ctx, sandbox.ReadFileRequest{Path: "/tmp/big", Length: 11 << 20})
		if err != nil {
			b.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || len(got) != len(data) {
			b.Fatalf("read back %d bytes, %v", len(got), err)
		}
		samples = append(samples, time.Since(start))
	}
	reportMedian(b, samples, "ms")
}

// BenchmarkPluginCreateToAction compares, in one run, a sandbox of a
// plugin runtime (busybox httpd with a CGI script) booted cold, where its
// files are copied in and its workload started and waited for, with the
// default create, which takes a guest restored from the runtime's
// template (workload running) from the warm pool; each up to the answer
// of its first action.
func BenchmarkPluginCreateToAction(b *testing.B) {
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{"echo": echoPlugin(b)}}
	env := sandboxtest.New(b, func(c *sandbox.Config) { c.Plugins, c.Templates, c.WarmPool = fp, true, 2 })
	m := env.Manager
	ctx := context.Background()
	toAction := func(spec sandbox.Spec) (time.Duration, *sandbox.Sandbox) {
		start := time.Now()
		sb, err := m.Create(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Action(ctx, sb.ID, "echo", "say", json.RawMessage(`{"msg":"hi"}`)); err != nil {
			b.Fatal(err)
		}
		return time.Since(start), sb
	}
	_, first := toAction(sandbox.Spec{Runtime: "echo"}) // makes the runtime's template
	_ = m.Delete(ctx, first.ID)
	waitWarm(b, m, sandbox.Spec{Runtime: "echo"})
	var cold, pooled []time.Duration
	for b.Loop() {
		d, sb := toAction(sandbox.Spec{Runtime: "echo", ColdBoot: true})
		cold = append(cold, d)
		_ = m.Delete(ctx, sb.ID)
		d, sb = toAction(sandbox.Spec{Runtime: "echo"})
		if sb.Boot != "restore" {
			b.Fatalf("default create booted %q, want restore", sb.Boot)
		}
		pooled = append(pooled, d)
		_ = m.Delete(ctx, sb.ID)
	}
	reportMedian(b, cold, "cold-ms")
	reportMedian(b, pooled, "pooled-ms")
}
