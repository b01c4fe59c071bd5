package qemu

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/hypervisortest"
	"github.com/volant-sh/volant/kestrel/client"
	"golang.org/x/sys/unix"
)

// templateSnapshot boots a 256 MiB guest with a memory file, waits for
// its agent, snapshots it into a temporary dir and kills it.
func templateSnapshot(b *testing.B, d *Driver) string {
	b.Helper()
	cfg := hypervisortest.Config(b, testGuest, "template")
	cfg.MemoryFile = filepath.Join(cfg.Dir, "mem")
	cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
	vm := hypervisortest.Boot(b, d, cfg)
	agentOf(b, vm)
	dir := filepath.Join(b.TempDir(), "template")
	snapshot(b, vm, dir)
	b.Logf("template snapshot: mem file uses %d MiB on disk, state %d KiB",
		diskUsage(filepath.Join(dir, memFile))>>20, diskUsage(filepath.Join(dir, stateFile))>>10)
	vm.Kill()
	return dir
}

func diskUsage(path string) int64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}

// BenchmarkRestoreToAgent measures Restore (memory file mode) until the
// agent answers /v1/health, next to BenchmarkBootToAgent. Besides the
// mean it reports the median of all iterations and of Restore alone.
func BenchmarkRestoreToAgent(b *testing.B) {
	skipUnlessBootable(b)
	d := newTestDriver(b)
	snap := templateSnapshot(b, d)
	var total, restoreOnly []time.Duration
	for i := 0; b.Loop(); i++ {
		cfg := hypervisortest.Config(b, testGuest, fmt.Sprintf("rb%d", i))
		cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		vm, err := d.Restore(ctx, cfg, snap)
		if err != nil {
			b.Fatal(err)
		}
		restored := time.Since(start)
		c := client.New(vm.DialAgent)
		if _, err := c.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
		total = append(total, time.Since(start))
		if testing.Verbose() {
			b.Logf("restore %v, agent ready %v", restored, time.Since(start))
		}
		restoreOnly = append(restoreOnly, restored)
		cancel()
		b.StopTimer()
		c.CloseIdle()
		vm.Kill()
		b.StartTimer()
	}
	b.ReportMetric(median(total).Seconds()*1000, "median-ms")
	b.ReportMetric(median(restoreOnly).Seconds()*1000, "median-restore-ms")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkClonePSS restores 5 clones of a 256 MiB guest, lets them idle
// and reports the sum of their QEMUs' proportional set size per clone,
// and the PSS of a booted guest of the same size for comparison.
func BenchmarkClonePSS(b *testing.B) {
	skipUnlessBootable(b)
	d := newTestDriver(b)
	snap := templateSnapshot(b, d)
	for b.Loop() {
		var vms []hypervisor.VM
		for i := range 5 {
			cfg := hypervisortest.Config(b, testGuest, fmt.Sprintf("pss%d", i))
			cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
			vm := restore(b, d, cfg, snap)
			agentOf(b, vm)
			vms = append(vms, vm)
		}
		bootCfg := hypervisortest.Config(b, testGuest, "pss-boot")
		bootCfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
		booted := hypervisortest.Boot(b, d, bootCfg)
		agentOf(b, booted)
		time.Sleep(3 * time.Second) // idle
		var sum int64
		for _, vm := range vms {
			sum += pssKiB(b, vm.PID())
		}
		b.ReportMetric(float64(sum)/5/1024, "PSS-MiB/clone")
		b.ReportMetric(float64(pssKiB(b, booted.PID()))/1024, "PSS-MiB/booted")
		b.StopTimer()
		for _, vm := range append(vms, booted) {
			vm.Kill()
		}
		b.StartTimer()
	}
}

// pssKiB is the Pss line of /proc/PID/smaps_rollup.
func pssKiB(b testing.TB, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == "Pss" {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no Pss in smaps_rollup of %d", pid)
	return 0
}
