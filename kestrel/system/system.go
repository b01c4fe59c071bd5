// Package system serves the agent's machine routes: GET /v1/health,
// POST /v1/reconfigure (a restored snapshot's new identity) and
// POST /v1/poweroff.
package system

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// Config configures the system routes.
type Config struct {
	// Version is reported by health.
	Version string
	// Poweroff is called after the poweroff answer has been sent; nil
	// answers 503 (the agent is not allowed to power off, as on a host).
	Poweroff func()
	// Apply applies a reconfigure plan and returns the interface state it
	// left; nil means ApplyPlan (root in the guest). Tests inject a
	// recorder.
	Apply func(context.Context, Plan) (*client.NetState, error)
	// Logger logs reconfigurations; nil discards.
	Logger *slog.Logger
}

// Server serves the system routes.
type Server struct{ cfg Config }

// New returns a system routes server.
func New(cfg Config) *Server {
	if cfg.Apply == nil {
		cfg.Apply = ApplyPlan
		_, _ = urandom() // entropy.go: open before any snapshot
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg}
}

// Register adds the system routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/health", s.handleHealth)
	mux.HandleFunc("POST /v1/reconfigure", s.handleReconfigure)
	mux.HandleFunc("POST /v1/poweroff", s.handlePoweroff)
	mux.HandleFunc("POST /v1/settle", s.handleSettle)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	reply.JSON(w, http.StatusOK, ReadHealth(s.cfg.Version))
}

// ReadHealth gathers the health answer from the kernel.
func ReadHealth(version string) client.Health {
	h := client.Health{Version: version}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		h.Kernel = string(bytes.TrimRight(uts.Release[:], "\x00"))
	}
	h.Hostname, _ = os.Hostname()
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		h.UptimeS = float64(si.Uptime)
		const scale = 1 << 16 // SI_LOAD_SHIFT
		h.Load1 = float64(si.Loads[0]) / scale
		h.Load5 = float64(si.Loads[1]) / scale
		h.Load15 = float64(si.Loads[2]) / scale
		h.Procs = int(si.Procs)
		h.MemTotal = uint64(si.Totalram) * uint64(si.Unit)
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				h.UptimeS = v
			}
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemAvailable:" {
				if kb, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
					h.MemAvailable = kb * 1024
				}
			}
		}
	}
	return h
}

func (s *Server) handleReconfigure(w http.ResponseWriter, r *http.Request) {
	var req client.ReconfigureRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		reply.Invalid(w, fmt.Sprintf("decoding reconfigure request: %v", err))
		return
	}
	plan, err := ParseReconfigure(req)
	if err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	st, err := s.cfg.Apply(r.Context(), plan)
	if err != nil {
		s.cfg.Logger.Error("reconfigure failed", "addr", plan.Net.Addr, "err", err)
		reply.Error(w, http.StatusInternalServerError, reply.CodeInternal, err.Error())
		return
	}
	s.cfg.Logger.Debug("reconfigured", "addr", plan.Net.Addr, "hostname", plan.Net.Hostname)
	reply.JSON(w, http.StatusOK, client.ReconfigureResponse{OK: true, Net: st})
}

// handlePoweroff answers, flushes, and then powers off.
func (s *Server) handlePoweroff(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Poweroff == nil {
		reply.Error(w, http.StatusServiceUnavailable, reply.CodeUnavailable, "this agent does not power off its machine (not running as PID 1)")
		return
	}
	reply.JSON(w, http.StatusAccepted, map[string]bool{"ok": true})
	_ = http.NewResponseController(w).Flush()
	go func() {
		// Give the answer a moment to cross the channel.
		time.Sleep(100 * time.Millisecond)
		s.cfg.Poweroff()
	}()
}
