// Package proc runs commands for the agent: one-shot execs (POST /v1/exec,
// buffered or streamed) and processes that outlive a call (/v1/processes).
// Every command runs in its own process group, which is killed as a whole
// on timeout, cancellation or delete. Exit statuses come from the agent's
// central reaper, never from waiting on the child directly.
package proc

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/volant-sh/volant/kestrel/reaper"
)

// Config configures a Service.
type Config struct {
	// Reaper collects exit statuses; required.
	Reaper *reaper.Reaper
	// Logger logs process starts and ends; nil discards.
	Logger *slog.Logger
	// WaitDelay is how long to keep reading output after a command's
	// group leader exits, while background processes hold its pipes
	// open; 0 means 250ms.
	WaitDelay time.Duration
	// MaxProcesses bounds how many ended processes are remembered;
	// 0 means 256. The oldest ended ones are forgotten first.
	MaxProcesses int
}

// Service serves the exec and process routes.
type Service struct {
	reaper    *reaper.Reaper
	log       *slog.Logger
	waitDelay time.Duration
	maxProcs  int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	procs map[string]*process
	order []string // ids in start order
}

// New returns a Service. Close kills the processes it started.
func New(cfg Config) *Service {
	s := &Service{
		reaper:    cfg.Reaper,
		log:       cfg.Logger,
		waitDelay: cfg.WaitDelay,
		maxProcs:  cfg.MaxProcesses,
		procs:     map[string]*process{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.waitDelay <= 0 {
		s.waitDelay = 250 * time.Millisecond
	}
	if s.maxProcs <= 0 {
		s.maxProcs = 256
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Register adds the exec and process routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/exec", s.handleExec)
	mux.HandleFunc("POST /v1/processes", s.handleStart)
	mux.HandleFunc("GET /v1/processes", s.handleList)
	mux.HandleFunc("GET /v1/processes/{id}", s.handleGet)
	mux.HandleFunc("GET /v1/processes/{id}/output", s.handleOutput)
	mux.HandleFunc("POST /v1/processes/{id}/stdin", s.handleStdin)
	mux.HandleFunc("POST /v1/processes/{id}/signal", s.handleSignal)
	mux.HandleFunc("DELETE /v1/processes/{id}", s.handleDelete)
}

// Close kills every process started through the process routes and waits
// for their supervisors. It is idempotent.
func (s *Service) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}
