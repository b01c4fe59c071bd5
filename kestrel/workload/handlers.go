package workload

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/reply"
)

// maxSpecBytes bounds a workload spec body.
const maxSpecBytes = 1 << 20

// handlePut starts the workload of the path's name. It answers 201 with
// the new workload's status once its first start was tried, or 200 with
// the status of the one already running that spec.
func (s *Service) handlePut(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := checkName(name); err != nil {
		reply.Invalid(w, err.Error())
		return
	}
	var spec client.WorkloadSpec
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSpecBytes)).Decode(&spec); err != nil {
		reply.Invalid(w, fmt.Sprintf("decoding workload spec: %v", err))
		return
	}
	spec, err := normalize(spec)
	if err != nil {
		reply.Invalid(w, fmt.Sprintf("workload %s: %v", name, err))
		return
	}
	wl, created, err := s.put(name, spec)
	if errors.Is(err, errClosed) {
		reply.Error(w, http.StatusServiceUnavailable, reply.CodeUnavailable, err.Error())
		return
	}
	if err != nil {
		reply.Error(w, http.StatusInternalServerError, reply.CodeInternal, err.Error())
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		// Replacing waits for the old one to stop (at most the grace).
		select {
		case <-wl.launched:
		case <-r.Context().Done():
			return
		}
	}
	st, _ := wl.status()
	reply.JSON(w, code, st)
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) {
	all := s.list()
	list := make([]client.WorkloadStatus, 0, len(all))
	for _, wl := range all {
		st, _ := wl.status()
		list = append(list, st)
	}
	reply.JSON(w, http.StatusOK, list)
}

// lookup answers 404 and returns nil for a name that is not supervised.
func (s *Service) lookup(w http.ResponseWriter, r *http.Request) *workload {
	name := r.PathValue("name")
	wl := s.get(name)
	if wl == nil {
		reply.Error(w, http.StatusNotFound, reply.CodeNotFound,
			fmt.Sprintf("workload %q is not running; start it with PUT /v1/workloads/%s or list them with GET /v1/workloads", name, name))
	}
	return wl
}

// handleGet answers a workload's status. With ?wait_ready_ms=N it first
// waits until the workload is ready, has ended for good or was stopped,
// or N milliseconds (at most client.MaxWorkloadWait) passed.
func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	var wait time.Duration
	if v := r.URL.Query().Get("wait_ready_ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			reply.Invalid(w, fmt.Sprintf("wait_ready_ms %q is not valid: give a number of milliseconds, at most %d", v, client.MaxWorkloadWait.Milliseconds()))
			return
		}
		wait = min(time.Duration(ms)*time.Millisecond, client.MaxWorkloadWait)
	}
	wl := s.lookup(w, r)
	if wl == nil {
		return
	}
	st, changed := wl.status()
	if wait > 0 && !st.Ready && !settled(st) {
		t := time.NewTimer(wait)
		defer t.Stop()
	poll:
		for !st.Ready && !settled(st) {
			select {
			case <-changed:
				st, changed = wl.status()
			case <-t.C:
				break poll
			case <-r.Context().Done():
				return
			}
		}
		st, _ = wl.status()
	}
	reply.JSON(w, http.StatusOK, st)
}

// handleLogs answers the last ?tail=N bytes of the workload's output, all
// that is kept without it.
func (s *Service) handleLogs(w http.ResponseWriter, r *http.Request) {
	tail := 0
	if v := r.URL.Query().Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			reply.Invalid(w, fmt.Sprintf("tail %q is not valid: give a number of bytes (0 or none for all that is kept, %d)", v, logSize))
			return
		}
		tail = n
	}
	wl := s.lookup(w, r)
	if wl == nil {
		return
	}
	data := wl.logs.tail(tail)
	if r.URL.Query().Get("previous") == "true" {
		var ok bool
		if data, ok = wl.logs.previous(); !ok {
			reply.Error(w, http.StatusNotFound, reply.CodeNotFound, fmt.Sprintf("workload %s has not restarted: there is no previous run", wl.name))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// handleDelete stops the workload, waits until its process group is gone
// and forgets it.
func (s *Service) handleDelete(w http.ResponseWriter, r *http.Request) {
	wl := s.lookup(w, r)
	if wl == nil {
		return
	}
	s.remove(wl)
	w.WriteHeader(http.StatusNoContent)
}
