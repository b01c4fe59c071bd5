package system

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeSysfs is a directory laid out as the kernel's files Settle reads.
func fakeSysfs(t *testing.T) Sysfs {
	t.Helper()
	dir := t.TempDir()
	fs := Sysfs{Clocksource: filepath.Join(dir, "current_clocksource"), Net: filepath.Join(dir, "net")}
	if err := os.MkdirAll(fs.Net, 0o755); err != nil {
		t.Fatal(err)
	}
	return fs
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, fs Sysfs, name, flags, carrier, operstate string) {
	write(t, filepath.Join(fs.Net, name, "flags"), flags)
	write(t, filepath.Join(fs.Net, name, "carrier"), carrier)
	write(t, filepath.Join(fs.Net, name, "operstate"), operstate)
}

// settles runs Settle with a max it must not reach and fails if it
// reached it.
func settles(t *testing.T, fs Sysfs) {
	t.Helper()
	if d := Settle(context.Background(), fs, time.Hour); d >= time.Hour {
		t.Fatalf("waited %v", d)
	}
}

func TestSettleAtOnce(t *testing.T) {
	fs := fakeSysfs(t)
	settles(t, fs) // nothing to read
	write(t, fs.Clocksource, "kvm-clock")
	link(t, fs, "lo", "0x9", "1", "unknown")
	link(t, fs, "eth0", "0x1003", "1", "up")
	link(t, fs, "eth1", "0x1002", "0", "down") // administratively down
	settles(t, fs)
}

func TestSettleWaitsForTheKernel(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after func(*testing.T, Sysfs)
	}{
		{"clocksource switch",
			func(t *testing.T, fs Sysfs) { write(t, fs.Clocksource, "tsc-early") },
			func(t *testing.T, fs Sysfs) { write(t, fs.Clocksource, "tsc") }},
		{"link watcher",
			func(t *testing.T, fs Sysfs) { link(t, fs, "eth0", "0x1003", "1", "down") },
			func(t *testing.T, fs Sysfs) { link(t, fs, "eth0", "0x1003", "1", "up") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := fakeSysfs(t)
			tc.before(t, fs)
			if d := Settle(context.Background(), fs, 50*time.Millisecond); d < 50*time.Millisecond {
				t.Fatalf("gave up after %v, before max", d)
			}
			done := make(chan time.Duration)
			go func() { done <- Settle(context.Background(), fs, time.Hour) }()
			tc.after(t, fs)
			if d := <-done; d >= time.Hour {
				t.Fatalf("waited %v", d)
			}
		})
	}
}

func TestSettleEndsWithTheContext(t *testing.T) {
	fs := fakeSysfs(t)
	write(t, fs.Clocksource, "tsc-early")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := Settle(ctx, fs, time.Hour); d >= time.Hour {
		t.Fatalf("waited %v", d)
	}
}
