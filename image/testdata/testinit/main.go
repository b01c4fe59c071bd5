// Command testinit is a stand-in for kestrel in the image package's boot
// test: it mounts the kernel filesystems, loads the modules the image
// lists, reports what it found on the console and powers off.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	for _, m := range []struct{ src, dst, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
	} {
		if err := unix.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil {
			fmt.Printf("MOUNT-FAIL %s: %v\n", m.dst, err)
		}
	}
	loaded, failed := loadModules("/etc/kestrel/modules")
	var uts unix.Utsname
	unix.Uname(&uts)
	fmt.Printf("RELEASE %s\n", unix.ByteSliceToString(uts.Release[:]))
	fmt.Printf("MODULES loaded=%d failed=%d\n", loaded, failed)
	fmt.Printf("PORTS %s\n", strings.Join(virtioPorts(), ","))
	_, err := os.Stat("/bin/sh")
	fmt.Printf("SH %v\n", err == nil)
	fmt.Println("VOLANT-IMAGE-OK")
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Printf("POWEROFF-FAIL %v\n", err)
	}
	select {}
}

func loadModules(list string) (loaded, failed int) {
	f, err := os.Open(list)
	if err != nil {
		fmt.Printf("MODULE-FAIL %s: %v\n", list, err)
		return 0, 1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		if err := finit(p); err != nil {
			fmt.Printf("MODULE-FAIL %s: %v\n", p, err)
			failed++
			continue
		}
		loaded++
	}
	return loaded, failed
}

func finit(p string) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.FinitModule(fd, "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// virtioPorts returns "vportNpM=name" for each virtio-serial port,
// waiting a while for the first named one: the port and its name arrive
// asynchronously after the driver loads.
func virtioPorts() []string {
	var out []string
	for range 100 {
		out = out[:0]
		dirs, _ := filepath.Glob("/sys/class/virtio-ports/*")
		named := false
		for _, d := range dirs {
			b, _ := os.ReadFile(filepath.Join(d, "name"))
			name := strings.TrimSpace(string(b))
			named = named || name != ""
			out = append(out, filepath.Base(d)+"="+name)
		}
		if named {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return out
}
