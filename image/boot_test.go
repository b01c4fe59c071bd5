package image

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const bootMarker = "VOLANT-IMAGE-OK"

// hostTSCkHz reads the host TSC frequency for tsc_early_khz: without it
// a microvm guest under TCG occasionally hangs calibrating.
func hostTSCkHz() (int, error) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(mhz * 1000), err
		}
	}
	return 0, fmt.Errorf("no cpu MHz in /proc/cpuinfo")
}

// bootArgs is the QEMU command line the boot test uses: microvm under TCG,
// console on the ISA serial port, the agent port on virtio-serial over MMIO.
func bootArgs(img *Image, agentSock string, tscKHz int) []string {
	return []string{
		"-M", "microvm,accel=tcg,acpi=on", "-cpu", "max", "-m", "256", "-smp", "1",
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-kernel", img.Kernel, "-initrd", img.Initramfs,
		"-append", fmt.Sprintf("console=ttyS0 reboot=t panic=-1 tsc_early_khz=%d cryptomgr.notests rodata=off tsc=reliable", tscKHz),
		"-serial", "stdio",
		"-device", "virtio-serial-device",
		"-chardev", "socket,id=agent,path=" + agentSock + ",server=on,wait=off",
		"-device", "virtserialport,chardev=agent,name=org.volant.agent.0",
	}
}

func TestBootArgs(t *testing.T) {
	got := strings.Join(bootArgs(&Image{Kernel: "/i/vmlinux", Initramfs: "/i/initramfs.cpio"}, "/run/a.sock", 2299998), " ")
	want := "-M microvm,accel=tcg,acpi=on -cpu max -m 256 -smp 1 -nodefaults -no-user-config -nographic -no-reboot " +
		"-kernel /i/vmlinux -initrd /i/initramfs.cpio " +
		"-append console=ttyS0 reboot=t panic=-1 tsc_early_khz=2299998 cryptomgr.notests rodata=off tsc=reliable " +
		"-serial stdio -device virtio-serial-device -chardev socket,id=agent,path=/run/a.sock,server=on,wait=off " +
		"-device virtserialport,chardev=agent,name=org.volant.agent.0"
	if got != want {
		t.Errorf("bootArgs =\n%s\nwant\n%s", got, want)
	}
}

// bootPrereqs skips when QEMU or root is missing and returns the image to
// boot, built with the test init as /init.
func bootPrereqs(tb testing.TB, c Compression) *Image {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: this test boots a real guest under QEMU (run `make test` for the full suite)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		tb.Skip("qemu-system-x86_64 not installed")
	}
	if os.Geteuid() != 0 {
		tb.Skip("booting guests needs root")
	}
	img, err := Build(context.Background(), Options{
		Dir: filepath.Join(shared.dir, "images"), KestrelPath: testInit(tb), KernelDeb: kernelDeb(tb),
		Compression: c,
	})
	if err != nil {
		tb.Fatalf("Build: %v", err)
	}
	return img
}

// guest is one running QEMU.
type guest struct {
	cmd   *exec.Cmd
	lines chan string
	out   strings.Builder
}

// startGuest boots img; the guest is killed at cleanup if still running.
func startGuest(tb testing.TB, img *Image) *guest {
	tb.Helper()
	khz, err := hostTSCkHz()
	if err != nil {
		tb.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "vimg")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(sockDir) })
	cmd := exec.Command("qemu-system-x86_64", bootArgs(img, filepath.Join(sockDir, "agent.sock"), khz)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting qemu: %v", err)
	}
	g := &guest{cmd: cmd, lines: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(g.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			g.lines <- strings.TrimRight(sc.Text(), "\r")
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(done)
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return g
}

// waitMarker reads console lines until the marker and returns them; a
// generous deadline guards against a hung guest, it is not a timing check.
func (g *guest) waitMarker(tb testing.TB) []string {
	tb.Helper()
	var lines []string
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case l, ok := <-g.lines:
			if !ok {
				tb.Fatalf("qemu exited before %s; console:\n%s", bootMarker, strings.Join(lines, "\n"))
			}
			lines = append(lines, l)
			if l == bootMarker {
				return lines
			}
		case <-deadline:
			tb.Fatalf("no %s after 3 minutes; console:\n%s", bootMarker, strings.Join(lines, "\n"))
		}
	}
}

// drain reads the rest of the console until QEMU exits.
func (g *guest) drain() []string {
	var rest []string
	for l := range g.lines {
		rest = append(rest, l)
	}
	return rest
}

func TestBoot(t *testing.T) {
	img := bootPrereqs(t, "")
	g := startGuest(t, img)
	lines := g.waitMarker(t)
	rest := g.drain()
	console := strings.Join(append(lines, rest...), "\n")

	report := map[string]string{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, " "); ok && strings.ToUpper(k) == k && !strings.HasPrefix(k, "[") {
			report[k] = v
		}
	}
	if got := report["RELEASE"]; got != img.KernelRelease {
		t.Errorf("guest kernel release %q, want %q", got, img.KernelRelease)
	}
	if got, want := report["MODULES"], fmt.Sprintf("loaded=%d failed=0", len(img.Manifest.Modules)); got != want {
		t.Errorf("modules: %q, want %q", got, want)
	}
	if strings.Contains(console, "MODULE-FAIL") || strings.Contains(console, "MOUNT-FAIL") {
		t.Errorf("the test init reported failures:\n%s", console)
	}
	if got := report["PORTS"]; !strings.Contains(got, "=org.volant.agent.0") {
		t.Errorf("virtio-serial ports %q, want one named org.volant.agent.0", got)
	}
	if report["SH"] != "true" {
		t.Errorf("/bin/sh missing in the guest")
	}
	if ps := g.cmd.ProcessState; ps == nil || !ps.Success() {
		t.Errorf("qemu did not exit cleanly after the guest powered off (%v)", g.cmd.ProcessState)
	}
	if t.Failed() {
		t.Logf("console:\n%s", console)
	}
}

// BenchmarkBootToInit times QEMU start to the test init's marker (kernel
// boot, initramfs unpack, module loading, virtio-serial port discovery),
// with each initramfs compression.
func BenchmarkBootToInit(b *testing.B) {
	for _, c := range []Compression{CompressNone, CompressGzip} {
		b.Run(string(c), func(b *testing.B) {
			img := bootPrereqs(b, c)
			for b.Loop() {
				g := startGuest(b, img)
				g.waitMarker(b)
				b.StopTimer()
				g.drain()
				b.StartTimer()
			}
		})
	}
}
