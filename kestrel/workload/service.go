// Package workload supervises the agent's named long-running processes:
// the workload of a runtime plugin, started with PUT /v1/workloads/{name}.
// Each workload runs in its own process group, started and waited the way
// kestrel/proc starts commands (exit statuses come from the agent's
// reaper), is restarted by its policy with exponential backoff, is checked
// for readiness on the guest's loopback, and keeps its last 64 KiB of
// output. Stopping sends TERM to the group and KILL after a grace period.
package workload

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/reaper"
)

// DefaultStopGrace is how long a stopped workload gets between TERM and
// KILL.
const DefaultStopGrace = 5 * time.Second

// Config configures a Service.
type Config struct {
	// Reaper collects exit statuses; required.
	Reaper *reaper.Reaper
	// Logger logs starts, exits and failures; nil discards.
	Logger *slog.Logger
	// StopGrace is the wait between TERM and KILL when a workload is
	// stopped; 0 means DefaultStopGrace.
	StopGrace time.Duration
}

// Validate reports a Config that cannot work.
func (c Config) Validate() error {
	if c.Reaper == nil {
		return errors.New("workload config: Reaper is required")
	}
	if c.StopGrace < 0 {
		return errors.New("workload config: StopGrace must not be negative")
	}
	return nil
}

// Service serves the workload routes and supervises the workloads.
type Service struct {
	run *runner
	wg  sync.WaitGroup // one per supervisor goroutine

	mu        sync.Mutex
	workloads map[string]*workload
	closed    bool
}

// New returns a Service. Close stops its workloads.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	grace := cfg.StopGrace
	if grace == 0 {
		grace = DefaultStopGrace
	}
	return &Service{
		run:       &runner{reaper: cfg.Reaper, probe: newProber(), grace: grace, log: log},
		workloads: map[string]*workload{},
	}, nil
}

// Register adds the workload routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("PUT /v1/workloads/{name}", s.handlePut)
	mux.HandleFunc("GET /v1/workloads", s.handleList)
	mux.HandleFunc("GET /v1/workloads/{name}", s.handleGet)
	mux.HandleFunc("GET /v1/workloads/{name}/logs", s.handleLogs)
	mux.HandleFunc("DELETE /v1/workloads/{name}", s.handleDelete)
}

// Close stops every workload (TERM, KILL after the grace period) and
// waits for them to be gone. Later starts are refused. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	all := make([]*workload, 0, len(s.workloads))
	for _, w := range s.workloads {
		all = append(all, w)
	}
	s.mu.Unlock()
	for _, w := range all {
		w.stop()
	}
	s.wg.Wait()
	return nil
}

// errClosed is a start after Close.
var errClosed = errors.New("the agent is shutting down; no workload can start")

// put makes the workload name run spec. It answers the workload that now
// has the name and whether it is a new one; a running workload of the
// same spec is kept.
func (s *Service) put(name string, spec client.WorkloadSpec) (*workload, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, errClosed
	}
	prev := s.workloads[name]
	if prev != nil && !prev.stopping() && sameSpec(prev.spec, spec) {
		if st, _ := prev.status(); st.State != client.WorkloadExited {
			return prev, false, nil
		}
	}
	w := newWorkload(name, spec)
	s.workloads[name] = w
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run.run(w, prev)
	}()
	return w, true, nil
}

// get returns the workload name, or nil.
func (s *Service) get(name string) *workload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workloads[name]
}

// list returns the workloads sorted by name.
func (s *Service) list() []*workload {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*workload, 0, len(s.workloads))
	for _, w := range s.workloads {
		all = append(all, w)
	}
	slices.SortFunc(all, func(a, b *workload) int { return strings.Compare(a.name, b.name) })
	return all
}

// remove stops w, waits until it is gone and forgets it, unless the name
// was given to another workload meanwhile.
func (s *Service) remove(w *workload) {
	w.stop()
	<-w.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workloads[w.name] == w {
		delete(s.workloads, w.name)
	}
}
