package rest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// Workloads is the part of the engine the workload routes serve.
// *sandbox.Manager implements it; an engine without it answers 501 there.
type Workloads interface {
	StartWorkload(ctx context.Context, idOrName, name string, spec sandbox.WorkloadSpec) (*sandbox.WorkloadStatus, error)
	Workload(ctx context.Context, idOrName, name string, wait time.Duration) (*sandbox.WorkloadStatus, error)
	Workloads(ctx context.Context, idOrName string) ([]sandbox.WorkloadStatus, error)
	WorkloadLogs(ctx context.Context, idOrName, name string, tail int) ([]byte, error)
	StopWorkload(ctx context.Context, idOrName, name string) error
}

var _ Workloads = (*sandbox.Manager)(nil)

// previousLogs is the part of the engine that answers a workload's
// previous run's output (?previous=true).
type previousLogs interface {
	WorkloadPreviousLogs(ctx context.Context, idOrName, name string) ([]byte, error)
}

var _ previousLogs = (*sandbox.Manager)(nil)

// workloads returns the engine's workload part, or a 501 error.
func (s *server) workloads() (Workloads, error) {
	if w, ok := s.eng.(Workloads); ok {
		return w, nil
	}
	return nil, errNoWorkloads
}

var errNoWorkloads = errors.New("this engine does not supervise workloads")

func (s *server) workloadFail(ctx context.Context, what string, err error) error {
	if errors.Is(err, errNoWorkloads) {
		return huma.NewError(http.StatusNotImplemented, err.Error())
	}
	return s.fail(ctx, what, err)
}

type workloadInput struct {
	ID   string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Name string `path:"name" maxLength:"63" pattern:"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$" doc:"Workload name."`
}

type putWorkloadInput struct {
	ID   string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Name string `path:"name" maxLength:"63" pattern:"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$" doc:"Workload name."`
	Body sandbox.WorkloadSpec
}

type getWorkloadInput struct {
	ID          string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Name        string `path:"name" maxLength:"63" pattern:"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$" doc:"Workload name."`
	WaitReadyMS int64  `query:"wait_ready_ms" minimum:"0" maximum:"600000" doc:"First wait up to this many milliseconds until the workload is ready or has ended for good."`
}

type workloadOutput struct {
	Body *sandbox.WorkloadStatus
}

type workloadsOutput struct {
	Body struct {
		Items []sandbox.WorkloadStatus `json:"items"`
	}
}

// workloadRoutes serves the workloads kestrel supervises in a sandbox and
// a raw TCP tunnel to a guest port: what the Kubernetes provider needs
// for a Pod's container, its logs and kubectl port-forward.
func (s *server) workloadRoutes() {
	s.statsRoutes()
	const path = "/v1/sandboxes/{id}/workloads/{name}"
	errs := []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusNotImplemented, http.StatusServiceUnavailable}
	huma.Register(s.api, op(http.MethodPut, path, "put-workload", "exec", "Start a supervised workload",
		"Starts a long-running process that the agent supervises (restart policy, readiness check, a log ring of its output). "+
			"Putting the same spec again leaves the running one alone; another spec replaces it.", errs...),
		func(ctx context.Context, in *putWorkloadInput) (*workloadOutput, error) {
			w, err := s.workloads()
			if err == nil {
				var st *sandbox.WorkloadStatus
				if st, err = w.StartWorkload(ctx, in.ID, in.Name, in.Body); err == nil {
					return &workloadOutput{Body: st}, nil
				}
			}
			return nil, s.workloadFail(ctx, "put workload", err)
		})
	huma.Register(s.api, op(http.MethodGet, path, "get-workload", "exec", "Get a workload's status",
		"The workload's state, restarts and last exit.", errs...),
		func(ctx context.Context, in *getWorkloadInput) (*workloadOutput, error) {
			w, err := s.workloads()
			if err == nil {
				var st *sandbox.WorkloadStatus
				if st, err = w.Workload(ctx, in.ID, in.Name, time.Duration(in.WaitReadyMS)*time.Millisecond); err == nil {
					return &workloadOutput{Body: st}, nil
				}
			}
			return nil, s.workloadFail(ctx, "get workload", err)
		})
	huma.Register(s.api, op(http.MethodDelete, path, "delete-workload", "exec", "Stop a workload",
		"Stops the workload (TERM to its process group, KILL after a grace period) and forgets it.", errs...),
		func(ctx context.Context, in *workloadInput) (*struct{}, error) {
			w, err := s.workloads()
			if err == nil {
				if err = w.StopWorkload(ctx, in.ID, in.Name); err == nil {
					return nil, nil
				}
			}
			return nil, s.workloadFail(ctx, "delete workload", err)
		})
	huma.Register(s.api, op(http.MethodGet, "/v1/sandboxes/{id}/workloads", "list-workloads", "exec", "List a sandbox's workloads",
		"The workloads the agent supervises, a plugin runtime's own included.", errs...),
		func(ctx context.Context, in *idInput) (*workloadsOutput, error) {
			w, err := s.workloads()
			if err == nil {
				var list []sandbox.WorkloadStatus
				if list, err = w.Workloads(ctx, in.ID); err == nil {
					out := &workloadsOutput{}
					out.Body.Items = list
					if out.Body.Items == nil {
						out.Body.Items = []sandbox.WorkloadStatus{}
					}
					return out, nil
				}
			}
			return nil, s.workloadFail(ctx, "list workloads", err)
		})

	s.mux.HandleFunc("GET "+path+"/logs", s.workloadLogs)
	s.document(op(http.MethodGet, path+"/logs", "get-workload-logs", "exec", "Read a workload's output",
		"The last bytes of the workload's combined stdout and stderr, as the agent keeps them (64 KiB).", errs...),
		nil, textResponse("The workload's output.", "text/plain"),
		queryParam("tail", "integer", "Only the last N bytes; default all that is kept."),
		queryParam("previous", "boolean", "The previous run's output (before the last restart), as much as is kept; 404 when it has not restarted."))

	s.mux.HandleFunc("GET /v1/sandboxes/{id}/tcp/{port}", s.tcpTunnel)
	s.document(op(http.MethodGet, "/v1/sandboxes/{id}/tcp/{port}", "tcp-tunnel", "ports", "Open a raw TCP tunnel to a port in the sandbox",
		"A WebSocket whose binary messages carry the bytes of one TCP connection to {port} on the sandbox's loopback, "+
			"through the agent channel (the guest needs no network). Closing the WebSocket closes the connection.",
		http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusBadGateway, http.StatusServiceUnavailable),
		nil, switchingResponse("The tunnel."))
}

func (s *server) workloadLogs(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	// The engine's own rule for the id and name, asked first, so that bad
	// input is refused even by an engine without workloads.
	err := sandbox.ValidateWorkloadRef(id, name)
	var tail int64
	if err == nil {
		tail, err = parseInt("tail", r.URL.Query().Get("tail"), 0, 1<<30)
	}
	prev := r.URL.Query().Get("previous")
	if err == nil && prev != "" && prev != "true" && prev != "false" {
		err = errdefs.Invalid("previous %q: give true or false", truncate(prev, 20))
	}
	var wl Workloads
	if err == nil {
		wl, err = s.workloads()
	}
	var data []byte
	switch {
	case err != nil:
	case prev == "true":
		if pl, ok := wl.(previousLogs); ok {
			data, err = pl.WorkloadPreviousLogs(r.Context(), id, name)
		} else {
			err = errNoWorkloads
		}
	default:
		data, err = wl.WorkloadLogs(r.Context(), id, name, int(tail))
	}
	if errors.Is(err, errNoWorkloads) {
		writeProblem(w, http.StatusNotImplemented, err.Error())
		return
	}
	if err != nil {
		s.writeError(w, r, "workload logs", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// tcpTunnel carries one TCP connection to a guest port over a WebSocket.
func (s *server) tcpTunnel(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err == nil && (port < 1 || port > 65535) {
		err = errors.New("out of range")
	}
	if err != nil {
		s.writeError(w, r, "tcp tunnel", errdefs.Invalid("port %q: use a TCP port number from 1 to 65535", truncate(r.PathValue("port"), 20)))
		return
	}
	a, ok := s.guestOf(w, r, "tcp tunnel")
	if !ok {
		return
	}
	conn, err := a.DialPort(r.Context(), port)
	if err != nil {
		writeProblem(w, http.StatusBadGateway, "nothing answers on port "+strconv.Itoa(port)+" in the sandbox: "+err.Error())
		return
	}
	defer conn.Close()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ws := websocket.NetConn(ctx, c, websocket.MessageBinary)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(conn, ws)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = conn.Close()
		}
		close(done)
	}()
	_, _ = io.Copy(ws, conn)
	_ = ws.Close()
	cancel()
	<-done
}
