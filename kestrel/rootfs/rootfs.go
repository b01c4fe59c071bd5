// Package rootfs puts the agent into a sandbox's image root. The host
// attaches the image's ext4 read-only and a copy-on-write disk, and names
// them by serial on the kernel command line (volant.root=SERIAL
// volant.rootrw=SERIAL). As PID 1, kestrel mounts the image read-only, the
// copy-on-write disk (formatting a blank one), an overlay of the two at
// Dir, and the kernel file systems inside it; then it chroots itself into
// that root. kestrel stays PID 1 and supervisor (its binary and modules
// come from the initramfs, loaded before), while every process it starts
// and the files API see the image's root, the kernel's own path
// resolution keeping them inside it.
package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/volant-sh/volant/kestrel/netcfg"
	"golang.org/x/sys/unix"
)

// Where the pieces are mounted in the initramfs before the chroot.
const (
	// Dir is the overlay: the image's root as its processes see it.
	Dir      = "/run/volant/root"
	imageDir = "/run/volant/image" // the image's ext4, read-only
	rwDir    = "/run/volant/rw"    // the copy-on-write disk: upper and work
)

// Config is what the kernel command line says about the root.
type Config struct {
	// ImageSerial is the serial of the read-only disk holding the image.
	ImageSerial string
	// RWSerial is the serial of the sandbox's copy-on-write disk.
	RWSerial string
}

// ParseCmdline reads volant.root= and volant.rootrw= from a kernel
// command line. ok is false when the sandbox has no image root.
func ParseCmdline(cmdline string) (cfg Config, ok bool, err error) {
	for _, f := range strings.Fields(cmdline) {
		if v, found := strings.CutPrefix(f, "volant.root="); found {
			cfg.ImageSerial = v
		}
		if v, found := strings.CutPrefix(f, "volant.rootrw="); found {
			cfg.RWSerial = v
		}
	}
	switch {
	case cfg.ImageSerial == "" && cfg.RWSerial == "":
		return cfg, false, nil
	case cfg.ImageSerial == "" || cfg.RWSerial == "":
		return cfg, false, fmt.Errorf("volant.root=%q volant.rootrw=%q: give both disk serials or neither", cfg.ImageSerial, cfg.RWSerial)
	case strings.ContainsAny(cfg.ImageSerial+cfg.RWSerial, "/."):
		return cfg, false, fmt.Errorf("volant.root=%q volant.rootrw=%q: a serial has no '/' or '.'", cfg.ImageSerial, cfg.RWSerial)
	}
	return cfg, true, nil
}

// Starter runs a program under the agent's reaper and returns its exit
// status channel (kestrel/disks.Starter).
type Starter func(name string, argv []string, attr *os.ProcAttr) (int, <-chan syscall.WaitStatus, error)

// state is what the agent knows about its root.
var state struct {
	mu sync.Mutex
	// active is true once the agent runs chrooted in an image root.
	active bool
	// err is why mounting the root failed, for the host.
	err      error
	defaults Defaults
}

// Active reports whether the agent runs in an image root.
func Active() bool {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.active
}

// Err is why the image root could not be entered, or nil.
func Err() error {
	state.mu.Lock()
	defer state.mu.Unlock()
	return state.err
}

// Failed records why the root could not be set up; the host learns it
// when it sends the image's defaults.
func Failed(err error) {
	state.mu.Lock()
	state.err = err
	state.mu.Unlock()
}

// Mount finds the two disks by serial, mounts the image read-only, the
// copy-on-write disk (formatted with start's mke2fs when blank), the
// overlay at Dir and the kernel file systems inside it. It runs before
// Enter, in the initramfs.
func Mount(cfg Config, start Starter, log *slog.Logger) error {
	img, err := waitSerial(cfg.ImageSerial, 10*time.Second)
	if err != nil {
		return err
	}
	rw, err := waitSerial(cfg.RWSerial, 10*time.Second)
	if err != nil {
		return err
	}
	for _, d := range []string{imageDir, rwDir, Dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount(img, imageDir, "ext4", unix.MS_RDONLY, "noload"); err != nil {
		// noload skips journal replay, which a read-only device cannot do;
		// an image without a journal may refuse the option.
		if err := unix.Mount(img, imageDir, "ext4", unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("mounting the image %s (serial %s) read-only: %w", img, cfg.ImageSerial, err)
		}
	}
	if err := unix.Mount(rw, rwDir, "ext4", 0, ""); err != nil {
		log.Info("formatting the copy-on-write disk", "device", rw)
		if err := mkfs(rw, start); err != nil {
			return err
		}
		if err := unix.Mount(rw, rwDir, "ext4", 0, ""); err != nil {
			return fmt.Errorf("mounting the copy-on-write disk %s: %w", rw, err)
		}
	}
	upper, work := filepath.Join(rwDir, "upper"), filepath.Join(rwDir, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + imageDir + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", Dir, "overlay", 0, opts); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mounting the root overlay (%s): %w", opts, err)
	}
	return mountInside()
}

// mountInside gives the root its kernel file systems: /proc and /tmp of
// its own, and the initramfs's /dev (with /dev/pts and /dev/shm) and
// /sys (with the cgroup tree) bound in, so a PTY opened by the agent is
// the same device inside.
func mountInside() error {
	const nosuid = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	ms := []struct {
		src, dst, fstype, data string
		flags                  uintptr
	}{
		{"proc", "proc", "proc", "", nosuid},
		{"/sys", "sys", "", "", unix.MS_BIND | unix.MS_REC},
		{"/dev", "dev", "", "", unix.MS_BIND | unix.MS_REC},
		{"tmpfs", "run", "tmpfs", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV},
		{"tmpfs", "tmp", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
	}
	for _, m := range ms {
		dst := filepath.Join(Dir, m.dst)
		if err := mkdirIn(dst); err != nil {
			return err
		}
		if err := unix.Mount(m.src, dst, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s on %s in the root: %w", m.src, dst, err)
		}
	}
	return nil
}

// mkdirIn makes a mount point in the root. A symlink there (an image's
// /run -> /var/run, say) is replaced by a directory, so the mount cannot
// land outside the root.
func mkdirIn(dst string) error {
	if fi, err := os.Lstat(dst); err == nil {
		if fi.IsDir() {
			return nil
		}
		if err := os.Remove(dst); err != nil {
			return fmt.Errorf("replacing %s with a directory: %w", dst, err)
		}
	}
	return os.MkdirAll(dst, 0o755)
}

// Enter chroots the agent into Dir and records that it runs there.
func Enter() error {
	if err := unix.Chroot(Dir); err != nil {
		return fmt.Errorf("entering the image root %s: %w", Dir, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := prepareEtc(); err != nil {
		return err
	}
	state.mu.Lock()
	state.active = true
	state.mu.Unlock()
	return nil
}

// prepareEtc makes /etc/hosts and /etc/resolv.conf plain files the agent
// can write: an image's symlink there (resolv.conf into a resolver's /run
// directory) would point nowhere in a sandbox. /etc/hostname becomes a
// link to the kernel's name, as in the busybox guest, so setting the name
// needs no file write.
func prepareEtc() error {
	if err := os.MkdirAll("/etc", 0o755); err != nil {
		return err
	}
	for _, f := range []string{"/etc/hosts", "/etc/resolv.conf"} {
		if fi, err := os.Lstat(f); err == nil && !fi.Mode().IsRegular() {
			if err := os.RemoveAll(f); err != nil {
				return fmt.Errorf("replacing %s: %w", f, err)
			}
		}
	}
	if netcfg.LinksToKernelHostname(netcfg.HostnameFile) {
		return nil
	}
	if err := os.RemoveAll(netcfg.HostnameFile); err != nil {
		return fmt.Errorf("replacing %s: %w", netcfg.HostnameFile, err)
	}
	if err := os.Symlink(netcfg.KernelHostname, netcfg.HostnameFile); err != nil {
		return fmt.Errorf("linking %s to the kernel's name: %w", netcfg.HostnameFile, err)
	}
	return nil
}

// Identity writes the root's /etc/hosts for hostname (the machine's own
// name resolving to the loopback, as in the busybox guest). It is called
// at boot and after a restore's reconfigure; without an image root it
// does nothing.
func Identity(hostname string) error {
	if !Active() || hostname == "" {
		return nil
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + hostname + "\n"
	return writeFile("/etc/hosts", hosts)
}

// writeFile replaces path's content atomically.
func writeFile(path, content string) error {
	tmp := path + ".volant-tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// waitSerial waits for the virtio block device whose serial is serial
// and returns its /dev path.
func waitSerial(serial string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		dev, err := FindSerial("/sys/block", serial)
		if err == nil {
			if _, err := os.Stat("/dev/" + dev); err == nil {
				return "/dev/" + dev, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no disk with serial %q appeared within %s", serial, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FindSerial returns the name of the block device under sysBlock (e.g.
// /sys/block) whose serial is serial.
func FindSerial(sysBlock, serial string) (string, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "serial"))
		if err == nil && strings.TrimSpace(string(b)) == serial {
			return e.Name(), nil
		}
	}
	return "", fmt.Errorf("no block device with serial %q", serial)
}

// mkfs formats a blank copy-on-write disk with busybox's mke2fs (in the
// initramfs; the ext4 driver mounts what it makes). The host normally
// formats the disk itself, which is faster than doing it under emulation.
func mkfs(dev string, start Starter) error {
	_, done, err := start("/bin/busybox", []string{"mke2fs", "-q", "-F", dev}, &os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		return fmt.Errorf("formatting %s: %w", dev, err)
	}
	if ws := <-done; ws.ExitStatus() != 0 {
		return fmt.Errorf("formatting %s: mke2fs exited %d", dev, ws.ExitStatus())
	}
	return nil
}
