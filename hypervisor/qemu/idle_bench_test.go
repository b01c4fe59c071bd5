package qemu

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/hypervisortest"
	"github.com/volant-sh/volant/internal/benchfig"
)

// idleGroup is one configuration of idle guests BenchmarkIdleCPU measures.
type idleGroup struct {
	name    string
	cmdline string // extra kernel arguments
	// connected keeps the agent port open from the host, as the daemon's
	// client does for 30 s after a request; otherwise the guest has no host.
	connected bool
	net       hypervisor.NetMode
	vms       []hypervisor.VM
	conns     []net.Conn
}

// BenchmarkIdleCPU boots idle guests (VOLANT_BENCH_IDLE_GUESTS per
// configuration, default 3), lets them settle and reports the CPU their
// QEMU processes use (user + system time over a 20 s window, in % of one
// host core per guest). All configurations idle at once, so their ratio
// holds on a busy host: "default" as a sandbox is left idle (no host on
// its agent port), "connected" with an agent connection open, "usernet"
// with user-mode networking (the others have none), and, when
// VOLANT_BENCH_IDLE_CMDLINE is set, "candidate" with those kernel arguments
// added, to try a tuning before making it the default.
func BenchmarkIdleCPU(b *testing.B) {
	skipUnlessBootable(b)
	d := newTestDriver(b)
	per := 3
	if v, err := strconv.Atoi(os.Getenv("VOLANT_BENCH_IDLE_GUESTS")); err == nil && v > 0 {
		per = v
	}
	window := 20 * time.Second
	if v, err := time.ParseDuration(os.Getenv("VOLANT_BENCH_IDLE_WINDOW")); err == nil && v > 0 {
		window = v
	}
	groups := []*idleGroup{{name: "default"}, {name: "connected", connected: true}, {name: "usernet", net: hypervisor.NetUser}}
	if c := os.Getenv("VOLANT_BENCH_IDLE_CMDLINE"); c != "" {
		groups = append(groups, &idleGroup{name: "candidate", cmdline: c})
	}
	for b.Loop() {
		for i := range per {
			for _, g := range groups {
				cfg := hypervisortest.Config(b, testGuest, fmt.Sprintf("idle-%s-%d", g.name, i))
				cfg.Cmdline = strings.TrimSpace(cfg.Cmdline + " " + g.cmdline)
				if g.net != "" {
					cfg.Net = hypervisor.Net{Mode: g.net}
				}
				vm := hypervisortest.Boot(b, d, cfg)
				hypervisortest.WaitAgent(b, vm)
				g.vms = append(g.vms, vm)
				if g.connected {
					c, err := vm.DialAgent(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					g.conns = append(g.conns, c)
				}
			}
		}
		// Boots are noisy: let every guest settle first.
		time.Sleep(10 * time.Second)
		before := map[int]int64{}
		for _, g := range groups {
			for _, vm := range g.vms {
				before[vm.PID()] = cpuTicks(b, vm.PID())
			}
		}
		start := time.Now()
		time.Sleep(window)
		elapsed := time.Since(start).Seconds()
		perGroup := map[string]benchfig.Stats{}
		for _, g := range groups {
			var pct []float64
			for _, vm := range g.vms {
				used := float64(cpuTicks(b, vm.PID())-before[vm.PID()]) / clockTicks
				pct = append(pct, 100*used/elapsed)
			}
			perGroup[g.name] = benchfig.Report(b, "idle-cpu-per-guest-"+g.name, "%core", pct)
		}
		for _, g := range groups[1:] {
			benchfig.Ratio(b, "idle-cpu-"+g.name+"/default", perGroup[g.name], perGroup["default"])
		}
		b.StopTimer()
		for _, g := range groups {
			for _, c := range g.conns {
				c.Close()
			}
			for _, vm := range g.vms {
				vm.Kill()
			}
			g.vms, g.conns = nil, nil
		}
		b.StartTimer()
	}
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on
// every Linux this runs on).
const clockTicks = 100

// cpuTicks is the user + system time of pid, all threads, in clock ticks.
func cpuTicks(b testing.TB, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}
