package system

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/netcfg"
	"github.com/volant-sh/volant/kestrel/rootfs"
)

// Plan is a validated reconfigure request.
type Plan struct {
	Net     netcfg.Config
	Time    time.Time // zero: leave the clock
	Entropy []byte
}

// ParseReconfigure validates req into a Plan. It changes nothing.
func ParseReconfigure(req client.ReconfigureRequest) (Plan, error) {
	var p Plan
	var err error
	if req.IPCIDR != "" {
		if p.Net.Addr, err = netcfg.ParseAddr(req.IPCIDR); err != nil {
			return Plan{}, err
		}
	}
	if req.Gateway != "" {
		cfg, err := netcfg.ParseCmdline("volant.gw=" + req.Gateway)
		if err != nil {
			return Plan{}, err
		}
		p.Net.Gateway = cfg.Gateway
	}
	if req.MAC != "" {
		if p.Net.MAC, err = netcfg.ParseMAC(req.MAC); err != nil {
			return Plan{}, err
		}
	}
	if req.Hostname != "" {
		if err := netcfg.CheckHostname(req.Hostname); err != nil {
			return Plan{}, err
		}
		p.Net.Hostname = req.Hostname
	}
	for _, d := range req.DNS {
		cfg, err := netcfg.ParseCmdline("volant.dns=" + d)
		if err != nil || len(cfg.DNS) != 1 {
			return Plan{}, errdefs.Invalid("dns %q is not an IP address", d)
		}
		p.Net.DNS = append(p.Net.DNS, cfg.DNS[0])
	}
	if req.TimeUnixNS < 0 {
		return Plan{}, errdefs.Invalid("time_unix_ns must not be negative")
	}
	if req.TimeUnixNS > 0 {
		p.Time = time.Unix(0, req.TimeUnixNS)
	}
	if len(req.Entropy) > 4096 {
		return Plan{}, errdefs.Invalid("entropy is %d bytes; send at most 4096", len(req.Entropy))
	}
	p.Entropy = req.Entropy
	return p, nil
}

// linkWait bounds how long a reconfigure waits for the interface to show
// what it was given (a device still probing, a busy guest).
const linkWait = 10 * time.Second

// ApplyPlan applies a plan to this machine: network, hostname, clock and
// entropy, in that order, and returns the interface as the kernel shows it
// afterwards (nil when the plan does not touch it). It fails unless the
// interface has the address, route and MAC it was given, waiting a little
// for a device that is late. It needs root.
func ApplyPlan(ctx context.Context, p Plan) (*client.NetState, error) {
	var net *client.NetState
	if p.Net.MAC != nil || p.Net.Addr.IsValid() || p.Net.Gateway.IsValid() {
		ctx, cancel := context.WithTimeout(ctx, linkWait)
		st, err := netcfg.ApplyVerified(ctx, p.Net)
		cancel()
		if err != nil {
			return nil, err
		}
		net = wireState(st)
	} else if err := netcfg.Apply(p.Net); err != nil {
		return nil, err
	}
	if err := rootfs.Identity(p.Net.Hostname); err != nil { // an image root's /etc/hosts
		return nil, err
	}
	if err := applyClock(p); err != nil {
		return nil, err
	}
	return net, nil
}

// wireState is st as the protocol carries it.
func wireState(st netcfg.State) *client.NetState {
	out := &client.NetState{Link: st.Link, MAC: st.MAC.String(), Up: st.Up, Addrs: []string{}}
	for _, a := range st.Addrs {
		out.Addrs = append(out.Addrs, a.String())
	}
	if st.Gateway.IsValid() {
		out.Gateway = st.Gateway.String()
	}
	return out
}

// applyClock sets the clock and reseeds the random pool.
func applyClock(p Plan) error {
	if !p.Time.IsZero() {
		ts := unix.NsecToTimespec(p.Time.UnixNano())
		if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
			return fmt.Errorf("setting the clock: %w", err)
		}
	}
	if len(p.Entropy) > 0 {
		if err := addEntropy(p.Entropy); err != nil {
			return err
		}
	}
	return nil
}
