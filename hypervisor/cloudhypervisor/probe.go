package cloudhypervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/volant-sh/volant/internal/filehash"

	"golang.org/x/sys/unix"
)

// probeTimeout bounds how long a probe waits for the guest kernel to reach
// userspace; a working KVM needs well under a second.
const probeTimeout = 8 * time.Second

// probeMarkers are console lines a kernel prints once it has booted far
// enough to start (or fail to find) its init.
var probeMarkers = []string{"Run /", "No working init found", "Unable to mount root fs"}

// ProbeResult says whether Cloud Hypervisor works on this host, and why.
type ProbeResult struct {
	OK     bool      `json:"ok"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// probeMu serializes probes and their cache file (kvm-probe.json in the
// state dir, keyed by VMM version, host kernel and guest kernel hash).
var probeMu sync.Mutex

// Probe says whether the Cloud Hypervisor driver can run guests of kernel
// here: the binary is found, /dev/kvm opens, and the kernel boots to
// userspace under cloud-hypervisor (a short boot with no initramfs, killed
// as soon as it tells). Results are cached in opts.StateDir.
func Probe(ctx context.Context, opts Options, kernel string) ProbeResult {
	bin, version, err := findBinary(opts.Binary)
	if err != nil {
		return ProbeResult{Reason: err.Error()}
	}
	if ok, why := kvmUsable(); !ok {
		return ProbeResult{Reason: why}
	}
	if kernel == "" {
		return ProbeResult{OK: true, Reason: fmt.Sprintf("%s found and /dev/kvm opens (no guest kernel to probe with)", version)}
	}
	sum, err := filehash.SHA256(kernel)
	if err != nil {
		return ProbeResult{Reason: fmt.Sprintf("hashing kernel %s: %v", kernel, err)}
	}
	key := version + "|" + hostKernel() + "|" + sum
	path := filepath.Join(opts.StateDir, "kvm-probe.json")
	probeMu.Lock()
	defer probeMu.Unlock()
	cache := map[string]ProbeResult{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &cache) // a damaged cache is an empty one
	}
	if r, ok := cache[key]; ok {
		r.Reason += " (cached)"
		return r
	}
	r := probeBoot(ctx, bin, kernel)
	if ctx.Err() != nil {
		return ProbeResult{Reason: fmt.Sprintf("probing cloud-hypervisor: %v", ctx.Err())}
	}
	r.At = time.Now()
	cache[key] = r
	if b, err := json.MarshalIndent(cache, "", "  "); err == nil && os.MkdirAll(opts.StateDir, 0o700) == nil {
		_ = os.WriteFile(path, b, 0o600)
	}
	return r
}

// probeBoot boots kernel with a missing init under cloud-hypervisor and
// reports whether it reached userspace.
func probeBoot(ctx context.Context, bin, kernel string) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.Command(bin, "--kernel", kernel, "--cmdline", "console=ttyS0 rdinit=/nonexistent panic=-1 reboot=k",
		"--cpus", "boot=1", "--memory", "size=256M", "--serial", "tty", "--console", "off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return ProbeResult{Reason: fmt.Sprintf("kvm probe: %v", err)}
	}
	// The probe dies with the daemon: nothing would adopt it.
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Pdeathsig: unix.SIGKILL}
	if err := cmd.Start(); err != nil {
		return ProbeResult{Reason: fmt.Sprintf("kvm probe: starting cloud-hypervisor: %v", err)}
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
		return ProbeResult{OK: true, Reason: fmt.Sprintf("kvm probe: guest kernel reached userspace under cloud-hypervisor (%q)", line)}
	case ctx.Err() != nil && stderr.Len() == 0:
		return ProbeResult{Reason: fmt.Sprintf("kvm probe: guest kernel did not reach userspace within %s under cloud-hypervisor", probeTimeout)}
	default:
		return ProbeResult{Reason: fmt.Sprintf("kvm probe: cloud-hypervisor failed: %s", strings.TrimSpace(stderr.String()))}
	}
}

// kvmUsable reports whether /dev/kvm opens read-write.
func kvmUsable() (bool, string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("/dev/kvm is not usable (%v)", err)
	}
	f.Close()
	return true, ""
}

func hostKernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
