// Command fakekestrel is a stand-in guest agent for the driver's tests
// while cmd/kestrel is not yet buildable: as PID 1 it mounts the basic
// file systems, loads the modules listed in /etc/kestrel/modules and
// serves GET /v1/health over a yamux server on the virtio-serial agent
// port, re-accepting whenever the host reconnects.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/volant-sh/volant/kestrel/client"
	"golang.org/x/sys/unix"
)

func main() {
	unix.Mount("proc", "/proc", "proc", 0, "")
	unix.Mount("sysfs", "/sys", "sysfs", 0, "")
	unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	if f, err := os.Open("/etc/kestrel/modules"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			m := strings.TrimSpace(sc.Text())
			if m == "" || strings.HasPrefix(m, "#") {
				continue
			}
			if mf, err := os.Open(m); err == nil {
				if err := unix.FinitModule(int(mf.Fd()), "", 0); err != nil && err != unix.EEXIST {
					fmt.Println("fakekestrel: loading", m, err)
				}
				mf.Close()
			}
		}
		f.Close()
	}
	fmt.Println("fakekestrel: up")
	var port string
	for port == "" {
		ms, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, m := range ms {
			b, _ := os.ReadFile(m)
			if strings.TrimSpace(string(b)) == client.SerialPortName {
				port = "/dev/" + filepath.Base(filepath.Dir(m))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("fakekestrel: agent port", port)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","agent":"fakekestrel"}`)
	})
	for {
		f, err := os.OpenFile(port, os.O_RDWR, 0)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		cfg := yamux.DefaultConfig()
		cfg.EnableKeepAlive = false
		cfg.LogOutput = io.Discard
		if s, err := yamux.Server(f, cfg); err == nil {
			http.Serve(s, mux)
			s.Close()
		}
		f.Close()
		time.Sleep(20 * time.Millisecond)
	}
}
