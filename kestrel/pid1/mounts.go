// Package pid1 does what the agent must do as the guest's init: mount the
// kernel file systems, load modules, log to the console, and power off
// cleanly. Reaping is kestrel/reaper's job.
package pid1

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// Mount is one file system to mount at boot.
type Mount struct {
	Source, Target, FSType, Data string
	Flags                        uintptr
	// Optional mounts may fail (the kernel lacks the file system).
	Optional bool
}

// Mounts is what the agent mounts as PID 1, in order.
func Mounts() []Mount {
	const nosuid = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	return []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Flags: nosuid},
		{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nosuid},
		{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
		{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "ptmxmode=0666,mode=0620,gid=5"},
		{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777", Optional: true},
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=0755"},
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
		{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: nosuid, Optional: true},
	}
}

// MountAll mounts ms, creating targets. An already mounted target (EBUSY)
// is fine; a failed optional mount is logged.
func MountAll(ms []Mount, log *slog.Logger) error {
	for _, m := range ms {
		if err := os.MkdirAll(m.Target, 0o755); err != nil && !m.Optional {
			return fmt.Errorf("creating %s: %w", m.Target, err)
		}
		err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
		if err == nil || errors.Is(err, unix.EBUSY) {
			continue
		}
		if m.Optional {
			log.Info("optional mount skipped", "target", m.Target, "fstype", m.FSType, "err", err)
			continue
		}
		return fmt.Errorf("mounting %s on %s: %w", m.FSType, m.Target, err)
	}
	if _, err := os.Lstat("/dev/ptmx"); err != nil {
		_ = os.Symlink("pts/ptmx", "/dev/ptmx")
	}
	for link, target := range map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"} {
		if _, err := os.Lstat(link); err != nil {
			_ = os.Symlink(target, link)
		}
	}
	return nil
}
