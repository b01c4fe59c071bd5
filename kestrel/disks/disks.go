// Package disks mounts the sandbox's data disks that the host names on the
// kernel command line (volant.disk=/dev/vda:/data), formatting a blank one
// on first boot.
package disks

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mount is one data disk and where it goes.
type Mount struct {
	Device string
	Dir    string
}

// ParseCmdline reads every volant.disk=DEVICE:DIR from a kernel command line.
func ParseCmdline(cmdline string) ([]Mount, error) {
	var ms []Mount
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, "volant.disk=")
		if !ok {
			continue
		}
		dev, dir, ok := strings.Cut(v, ":")
		if !ok || !strings.HasPrefix(dev, "/dev/") || !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
			return nil, fmt.Errorf("volant.disk=%q: want /dev/NAME:/absolute/dir", v)
		}
		ms = append(ms, Mount{Device: dev, Dir: filepath.Clean(dir)})
	}
	return ms, nil
}

// Starter runs a program and returns its exit status channel (the agent's
// reaper, so PID 1 does not steal the status).
type Starter func(name string, argv []string, attr *os.ProcAttr) (int, <-chan syscall.WaitStatus, error)

// MountAll waits for each device, formats it when it holds no file system,
// and mounts it.
func MountAll(ms []Mount, start Starter, log *slog.Logger) {
	for _, m := range ms {
		if err := mount(m, start); err != nil {
			log.Error("data disk", "device", m.Device, "dir", m.Dir, "err", err)
			continue
		}
		log.Info("data disk mounted", "device", m.Device, "dir", m.Dir)
	}
}

func mount(m Mount, start Starter) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(m.Device); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("device %s did not appear", m.Device)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return err
	}
	if unix.Mount(m.Device, m.Dir, "ext4", 0, "") == nil {
		return nil
	}
	// A blank disk: make a file system (ext2 from busybox; the ext4
	// driver mounts it).
	_, done, err := start("/bin/busybox", []string{"mke2fs", "-q", "-F", m.Device}, &os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		return fmt.Errorf("formatting %s: %w", m.Device, err)
	}
	if ws := <-done; ws.ExitStatus() != 0 {
		return fmt.Errorf("formatting %s: mke2fs exited %d", m.Device, ws.ExitStatus())
	}
	if err := unix.Mount(m.Device, m.Dir, "ext4", 0, ""); err != nil {
		return fmt.Errorf("mounting %s on %s: %w", m.Device, m.Dir, err)
	}
	return nil
}
