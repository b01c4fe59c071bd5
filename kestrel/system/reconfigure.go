package system

import (
	"fmt"
	"os"
	"time"
	"unsafe"

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

// ApplyPlan applies a plan to this machine: network, hostname, clock and
// entropy, in that order. It needs root.
func ApplyPlan(p Plan) error {
	if err := netcfg.Apply(p.Net); err != nil {
		return err
	}
	if err := rootfs.Identity(p.Net.Hostname); err != nil { // an image root's /etc/hosts
		return err
	}
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

// addEntropy mixes data into the kernel pool and, as root, credits it
// (RNDADDENTROPY), so a restored clone does not share its parent's stream.
func addEntropy(data []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/urandom: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing entropy: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	buf := make([]byte, 8+len(data)+3)
	*(*int32)(unsafe.Pointer(&buf[0])) = int32(len(data) * 8)
	*(*int32)(unsafe.Pointer(&buf[4])) = int32(len(data))
	copy(buf[8:], data)
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	var ierr error
	_ = rc.Control(func(fd uintptr) {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&buf[0])))
		if errno != 0 {
			ierr = fmt.Errorf("crediting entropy: %w", errno)
		}
	})
	return ierr
}
