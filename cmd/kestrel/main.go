// Command kestrel is Volant's in-guest agent. As PID 1 of the initramfs it
// mounts the kernel file systems, loads modules, configures the network from
// the kernel command line, reaps orphans and serves the agent protocol on
// the virtio-serial port (and vsock when present). As an ordinary process,
// with -listen, it serves the same routes on the given listeners, for tests
// and debugging on a host.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/volant-sh/volant/kestrel/agent"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/disks"
	"github.com/volant-sh/volant/kestrel/netcfg"
	"github.com/volant-sh/volant/kestrel/pid1"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/rootfs"
	"github.com/volant-sh/volant/kestrel/transport"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var listens listFlag
	flag.Var(&listens, "listen", "serve on `spec` instead of the guest devices: unix:/path, tcp:host:port, serial:/dev/vportNpM, vsock:port (repeatable)")
	debug := flag.Bool("debug", false, "log debug messages")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if os.Getpid() == 1 {
		runInit(*debug)
		return
	}
	if len(listens) == 0 {
		fmt.Fprintln(os.Stderr, "kestrel: not PID 1; give -listen unix:/path or tcp:127.0.0.1:0 to serve on the host")
		os.Exit(2)
	}
	if err := runHost(listens, *debug); err != nil {
		fmt.Fprintln(os.Stderr, "kestrel:", err)
		os.Exit(1)
	}
}

func newLogger(w *os.File, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// runHost serves on the given listeners until SIGINT or SIGTERM.
func runHost(specs []string, debug bool) error {
	log := newLogger(os.Stderr, debug)
	r := reaper.New(false)
	defer r.Close()
	a, err := agent.New(agent.Config{Version: version, Reaper: r, Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	for _, spec := range specs {
		l, err := transport.Listen(spec, transport.SerialConfig{Logger: log})
		if err != nil {
			return err
		}
		a.Serve(l)
		// The address line lets a test find a tcp:...:0 port.
		fmt.Printf("kestrel listening on %s %s\n", l.Addr().Network(), l.Addr())
	}
	log.Info("kestrel ready", "version", version)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// runInit is the PID 1 path. It never returns: the machine powers off.
func runInit(debug bool) {
	bootLog := newLogger(os.Stderr, debug)
	if err := pid1.MountAll(pid1.Mounts(), bootLog); err != nil {
		bootLog.Error("mounting file systems", "err", err)
	}
	log := newLogger(pid1.Console(client.ConsoleDevice), debug)
	r := reaper.New(true)
	// Before the modules: the NIC the virtio_net module makes must start
	// with the defaults set here (pid1.Sysctls).
	pid1.ApplySysctls("/proc/sys", pid1.Sysctls(), log)
	n := pid1.LoadModules(pid1.ModulesFile, log)
	log.Info("modules loaded", "count", n)

	if err := netcfg.LoopbackUp(); err != nil {
		log.Warn("loopback", "err", err)
	}
	// A sandbox of an image: mount its root, and its data disks inside
	// it, then chroot there, so that what follows (hostname, hosts,
	// resolv.conf) is written into the root its processes see.
	inRoot := enterRoot(r, log)

	cfg, err := netcfg.ParseCmdline(pid1.KernelCmdline())
	if err != nil {
		log.Error("kernel command line", "err", err)
	} else if err := applyBootNet(cfg); err != nil {
		log.Error("network config", "err", err)
	} else if err := rootfs.Identity(cfg.Hostname); err != nil {
		log.Error("image root identity", "err", err)
	}

	if !inRoot {
		if ds, err := disks.ParseCmdline(pid1.KernelCmdline()); err != nil {
			log.Error("kernel command line", "err", err)
		} else {
			disks.MountAll(ds, r.StartProcess, log)
		}
	}

	a, err := agent.New(agent.Config{Version: version, Reaper: r, Logger: log, Poweroff: func() { pid1.Poweroff(log) }})
	if err != nil {
		log.Error("agent", "err", err)
		pid1.Poweroff(log)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR)

	served := 0
	if l, err := serialListener(log); err != nil {
		log.Warn("no agent serial port", "err", err)
	} else {
		a.Serve(l)
		served++
	}
	if transport.VsockAvailable() {
		if l, err := transport.ListenVsock(client.VsockPort); err != nil {
			log.Warn("vsock", "err", err)
		} else {
			a.Serve(l)
			served++
		}
	}
	if served == 0 {
		log.Error("no agent channel: neither the virtio-serial port nor vsock is there")
	}
	log.Info("kestrel ready", "version", version, "listeners", served)
	sig := <-sigs
	log.Info("signal received", "signal", sig)
	pid1.Poweroff(log)
}

// enterRoot mounts the image root the kernel command line names, with the
// data disks inside it, and chroots the agent there. It reports whether
// the agent runs in an image root; a failure is kept for the host, which
// learns it when it sends the image's defaults.
func enterRoot(r *reaper.Reaper, log *slog.Logger) bool {
	rc, ok, err := rootfs.ParseCmdline(pid1.KernelCmdline())
	if err != nil {
		log.Error("kernel command line", "err", err)
		rootfs.Failed(err)
		return false
	}
	if !ok {
		return false
	}
	start := time.Now()
	if err := rootfs.Mount(rc, r.StartProcess, log); err != nil {
		log.Error("image root", "err", err)
		rootfs.Failed(err)
		return false
	}
	if ds, err := disks.ParseCmdline(pid1.KernelCmdline()); err != nil {
		log.Error("kernel command line", "err", err)
	} else {
		for i := range ds {
			ds[i].Dir = filepath.Join(rootfs.Dir, ds[i].Dir)
		}
		disks.MountAll(ds, r.StartProcess, log)
	}
	if err := rootfs.Enter(); err != nil {
		log.Error("image root", "err", err)
		rootfs.Failed(err)
		return false
	}
	log.Info("image root entered", "took", time.Since(start).Round(time.Millisecond))
	return true
}

// bootNetWait bounds how long boot waits for the network device (its
// driver may still be probing on a busy host).
const bootNetWait = 10 * time.Second

// applyBootNet applies the command line's network config and, when it
// sets the interface, waits until the kernel shows it applied. The host
// checks again before it calls the sandbox running.
func applyBootNet(cfg netcfg.Config) error {
	if cfg.MAC == nil && !cfg.Addr.IsValid() && !cfg.Gateway.IsValid() {
		return netcfg.Apply(cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootNetWait)
	defer cancel()
	_, err := netcfg.ApplyVerified(ctx, cfg)
	return err
}

// serialListener waits a little for the agent's virtio-serial port to
// appear (its driver may still be probing) and listens on it.
func serialListener(log *slog.Logger) (net.Listener, error) {
	var lastErr error
	for range 50 {
		dev, err := transport.FindSerialPort("/sys/class/virtio-ports", "/dev", client.SerialPortName)
		if err == nil {
			log.Info("agent port", "device", dev)
			// The port signals when a host connects, so while none is the
			// agent sleeps (a look once a second in case a signal is
			// missed). Without the signal it would look every 5 ms for 2 s,
			// then ever less often.
			return transport.ListenSerial(dev, transport.SerialConfig{Logger: log, PollInterval: 5 * time.Millisecond, SignalWake: true})
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return nil, lastErr
}
