package pid1

import (
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// KillAll sends TERM to every other process, waits up to grace for them
// to go, then sends KILL.
func KillAll(grace time.Duration) {
	_ = syscall.Kill(-1, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && othersAlive() {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-1, syscall.SIGKILL)
}

// othersAlive reports whether any process but this one (and kernel
// threads) is still there and not a zombie.
func othersAlive() bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		// Kernel threads have an empty cmdline.
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && len(b) > 0 {
			return true
		}
	}
	return false
}

// Poweroff ends every process, syncs, unmounts what it can and powers the
// machine off. It does not return.
func Poweroff(log *slog.Logger) {
	log.Info("kestrel powering off")
	KillAll(2 * time.Second)
	unix.Sync()
	for _, t := range []string{"/tmp", "/run", "/sys/fs/cgroup"} {
		_ = unix.Unmount(t, unix.MNT_DETACH)
	}
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Only reached without the privilege to power off.
	os.Exit(0)
}

// Console opens the serial console for logging, falling back to stderr.
func Console(device string) *os.File {
	f, err := os.OpenFile("/dev/"+device, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		if f, err = os.OpenFile("/dev/console", os.O_WRONLY|unix.O_NOCTTY, 0); err != nil {
			return os.Stderr
		}
	}
	return f
}

// KernelCmdline returns /proc/cmdline.
func KernelCmdline() string {
	b, _ := os.ReadFile("/proc/cmdline")
	return string(b)
}
