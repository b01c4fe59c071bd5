// Package agent assembles kestrel: the HTTP routes of every agent package
// on one mux, served on whatever listeners the agent channel offers.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/files"
	"github.com/volant-sh/volant/kestrel/ports"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/rootfs"
	"github.com/volant-sh/volant/kestrel/system"
	"github.com/volant-sh/volant/kestrel/term"
	"github.com/volant-sh/volant/kestrel/transport"
	"github.com/volant-sh/volant/kestrel/workload"
)

// Config configures an Agent.
type Config struct {
	// Version is reported by GET /v1/health.
	Version string
	// Reaper collects children's exit statuses; required.
	Reaper *reaper.Reaper
	// Logger; nil discards.
	Logger *slog.Logger
	// Poweroff is called by POST /v1/poweroff after it answered; nil
	// refuses to power off (answers 503).
	Poweroff func()
	// ApplyReconfigure applies POST /v1/reconfigure; nil means
	// system.ApplyPlan.
	ApplyReconfigure func(context.Context, system.Plan) (*client.NetState, error)
}

// Validate reports a Config that cannot work.
func (c Config) Validate() error {
	if c.Reaper == nil {
		return errors.New("agent config: Reaper is required")
	}
	return nil
}

// Agent is the agent's HTTP server.
type Agent struct {
	log       *slog.Logger
	procs     *proc.Service
	workloads *workload.Service
	srv       *http.Server
	wg        sync.WaitGroup
}

// New builds an Agent. Serve it on listeners; Close stops it.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	procs := proc.New(proc.Config{Reaper: cfg.Reaper, Logger: log})
	procs.Register(mux)
	workloads, err := workload.New(workload.Config{Reaper: cfg.Reaper, Logger: log})
	if err != nil {
		return nil, err
	}
	workloads.Register(mux)
	term.New(cfg.Reaper, log).Register(mux)
	system.New(system.Config{Version: cfg.Version, Poweroff: cfg.Poweroff, Apply: cfg.ApplyReconfigure, Logger: log}).Register(mux)
	files.Register(mux)
	rootfs.Register(mux)
	ports.Register(mux)
	mux.HandleFunc("POST /v1/quiesce", handleQuiesce(log))
	srv := &http.Server{
		Handler:  withoutDate(mux),
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	return &Agent{log: log, procs: procs, workloads: workloads, srv: srv}, nil
}

// connKey holds a request's connection in its context.
type connKey struct{}

// withoutDate serves h's answers without the Date header net/http adds:
// the host reads no date from the agent, and under TCG formatting it was
// ~150 of the blocks a restored guest translated for its first answer.
func withoutDate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		h.ServeHTTP(w, r)
	})
}

// handleQuiesce serves POST /v1/quiesce: before a snapshot, the host asks
// the agent to end the session the request came on once the answer is
// out, to mark on the line when that session is torn down
// (client.SerialQuiesced), and to write nothing more until a new host
// starts one. So the host
// knows, rather than guesses, that no session state or unsent bytes of
// the agent are frozen into the snapshot. A transport without sessions
// (vsock) answers 409.
func handleQuiesce(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ender, ok := r.Context().Value(connKey{}).(transport.SessionEnder)
		if !ok {
			http.Error(w, "this connection has no session to end", http.StatusConflict)
			return
		}
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Length", "0")
		w.Header().Set(client.QuiesceMarkHeader, "1") // the session's end is marked on the line
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		log.Debug("agent port: quiescing for a snapshot")
		ender.EndSession()
	}
}

// Handler returns the agent's routes.
func (a *Agent) Handler() http.Handler { return a.srv.Handler }

// Serve serves l in the background until Close.
func (a *Agent) Serve(l net.Listener) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("agent listener stopped", "addr", l.Addr(), "err", err)
		}
	}()
}

// Close stops serving, closes the listeners, kills the processes the
// agent started and stops its workloads. It is idempotent.
func (a *Agent) Close() error {
	err := a.srv.Close()
	a.wg.Wait()
	a.procs.Close()
	a.workloads.Close()
	return err
}
