package qemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Accelerator choices for Options.Accel.
const (
	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// probeTimeout bounds how long a KVM probe waits for the guest kernel to
// reach userspace. A working KVM needs well under a second.
const probeTimeout = 8 * time.Second

// probeMarkers are console lines a kernel prints once it has booted far
// enough to start (or fail to find) its init.
var probeMarkers = []string{
	"Run /",                   // "Run /init as init process"
	"No working init found",   // rdinit and init both missing
	"Unable to mount root fs", // no initramfs, no root device
}

// accelDecision is the outcome of choosing an accelerator.
type accelDecision struct {
	Accel  string    `json:"accel"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// accelCache is the file of probe results in the driver's state dir,
// keyed by QEMU version, host kernel and guest kernel hash.
type accelCache struct {
	path string
	mu   sync.Mutex
}

func (c *accelCache) get(key string) (accelDecision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.loadLocked()
	d, ok := m[key]
	return d, ok
}

func (c *accelCache) put(key string, d accelDecision) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.loadLocked()
	m[key] = d
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}

func (c *accelCache) loadLocked() map[string]accelDecision {
	m := map[string]accelDecision{}
	b, err := os.ReadFile(c.path)
	if err == nil {
		_ = json.Unmarshal(b, &m) // a damaged cache is an empty one
	}
	return m
}

// probeKey identifies the circumstances a probe result holds for.
func probeKey(qemuVersion, hostKernel, guestKernelSHA string) string {
	return qemuVersion + "|" + hostKernel + "|" + guestKernelSHA
}

// decideAccel applies the Accel option: explicit choices win; "auto" is
// TCG without a usable /dev/kvm, else whatever the probe found.
func decideAccel(opt string, kvmUsable bool, kvmWhy string, probe func() accelDecision) accelDecision {
	switch opt {
	case AccelKVM:
		return accelDecision{Accel: AccelKVM, Reason: "accel=kvm requested"}
	case AccelTCG:
		return accelDecision{Accel: AccelTCG, Reason: "accel=tcg requested"}
	}
	if !kvmUsable {
		return accelDecision{Accel: AccelTCG, Reason: kvmWhy}
	}
	return probe()
}

// kvmUsable reports whether /dev/kvm can be opened read-write.
func kvmUsable() (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("/dev/kvm is not usable (%v)", err)
	}
	f.Close()
	return true, ""
}

// probeKVM boots kernel under KVM with no initramfs and a missing rdinit,
// and reports whether the kernel reaches the point of starting init. It
// kills QEMU as soon as it knows.
func probeKVM(ctx context.Context, qemuPath, kernel string, tscKHz int) accelDecision {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmdline := "console=ttyS0 rdinit=/nonexistent panic=-1 reboot=t cryptomgr.notests rodata=off tsc=reliable"
	machine := "q35,accel=kvm"
	if tscKHz > 0 {
		machine = "microvm,accel=kvm,acpi=on,pit=off,pic=off,rtc=on,isa-serial=on,x-option-roms=off"
		cmdline += fmt.Sprintf(" tsc_early_khz=%d", tscKHz)
	}
	cmd := exec.Command(qemuPath, "-machine", machine, "-cpu", "host", "-m", "256M", "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", kernel, "-append", cmdline, "-serial", "stdio")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return accelDecision{Accel: AccelTCG, Reason: fmt.Sprintf("kvm probe: %v", err)}
	}
	// The probe dies with the daemon: unlike a VM, nothing would adopt it.
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Pdeathsig: unix.SIGKILL}
	if err := cmd.Start(); err != nil {
		return accelDecision{Accel: AccelTCG, Reason: fmt.Sprintf("kvm probe: starting qemu: %v", err)}
	}
	found := make(chan string, 1)
	go func() {
		defer close(found)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			for _, m := range probeMarkers {
				if strings.Contains(sc.Text(), m) {
					found <- strings.TrimSpace(sc.Text())
					io.Copy(io.Discard, out)
					return
				}
			}
		}
	}()
	var line string
	var ok bool
	select {
	case line, ok = <-found:
	case <-ctx.Done():
	}
	cmd.Process.Kill()
	for range found {
	}
	cmd.Wait()
	switch {
	case ok:
		return accelDecision{Accel: AccelKVM, Reason: fmt.Sprintf("kvm probe: guest kernel reached userspace (%q)", line)}
	case ctx.Err() != nil && stderr.Len() == 0:
		return accelDecision{Accel: AccelTCG, Reason: fmt.Sprintf("kvm probe: guest kernel did not reach userspace within %s under kvm", probeTimeout)}
	default:
		return accelDecision{Accel: AccelTCG, Reason: fmt.Sprintf("kvm probe: qemu failed under kvm: %s", strings.TrimSpace(stderr.String()))}
	}
}

// hostKernel is the host's kernel release.
func hostKernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// tscKHz reads the TSC rate from /proc/cpuinfo ("cpu MHz" of the first
// CPU, which is the TSC rate on hosts with a constant TSC); 0 if unknown.
func tscKHz(cpuinfo io.Reader) int {
	sc := bufio.NewScanner(cpuinfo)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "cpu MHz" {
			continue
		}
		mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || mhz <= 0 {
			return 0
		}
		return int(mhz*1000 + 0.5)
	}
	return 0
}

func hostTSCKHz() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	return tscKHz(f)
}

func cachePath(stateDir string) string { return filepath.Join(stateDir, "accel-probe.json") }
