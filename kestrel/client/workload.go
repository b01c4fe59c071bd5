package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// WorkloadSpec is the body of PUT /v1/workloads/{name}: a long-running
// process the agent supervises. It carries the semantics of a plugin
// manifest's workload.
type WorkloadSpec struct {
	// Command is argv; Command[0] is an absolute path or found in PATH.
	Command []string `json:"command"`
	// Env is added to the agent's base environment (PATH, HOME, TERM,
	// USER, LOGNAME); its entries win.
	Env map[string]string `json:"env,omitempty"`
	// Cwd is the working directory, absolute; empty means the agent
	// user's home when it exists, else "/".
	Cwd string `json:"cwd,omitempty"`
	// Port is the guest TCP port the workload serves on (1-65535).
	Port int `json:"port,omitempty"`
	// Health is an HTTP path (starting with '/') answered 2xx once the
	// workload is ready; it needs Port. Without it, ready means Port
	// accepts connections or, without Port, that the process started.
	Health string `json:"health,omitempty"`
	// Restart is RestartAlways (the default), RestartOnFailure or
	// RestartNever.
	Restart string `json:"restart,omitempty"`
}

// The restart policies of a workload.
const (
	// RestartAlways restarts the workload whenever it exits.
	RestartAlways = "always"
	// RestartOnFailure restarts it after a non-zero exit, a signal or a
	// failed start, not after exit 0.
	RestartOnFailure = "on-failure"
	// RestartNever leaves it ended.
	RestartNever = "never"
)

// The states of a workload.
const (
	// WorkloadStarting: the process runs and is not ready yet (or the
	// previous workload of the name is still being stopped).
	WorkloadStarting = "starting"
	// WorkloadReady: the process runs and passed its readiness check.
	WorkloadReady = "ready"
	// WorkloadBackoff: the process ended or failed to start and waits to
	// be restarted.
	WorkloadBackoff = "backoff"
	// WorkloadExited: the process ended and its policy does not restart it.
	WorkloadExited = "exited"
	// WorkloadStopped: the workload was stopped (deleted, replaced or the
	// agent closed).
	WorkloadStopped = "stopped"
)

// MaxWorkloadWait caps how long GET /v1/workloads/{name} waits for
// readiness.
const MaxWorkloadWait = 10 * time.Minute

// WorkloadStatus is the agent's view of a supervised workload.
type WorkloadStatus struct {
	Name string `json:"name"`
	// Spec is the workload's spec, Restart filled in.
	Spec WorkloadSpec `json:"spec"`
	// State is one of WorkloadStarting, WorkloadReady, WorkloadBackoff,
	// WorkloadExited and WorkloadStopped.
	State string `json:"state"`
	// Ready is true while the process runs and has passed its readiness
	// check; it resets when the process exits.
	Ready bool `json:"ready"`
	// PID is the running process's pid (and process group); 0 when none
	// runs.
	PID int `json:"pid"`
	// Restarts counts the starts after the first one.
	Restarts int `json:"restarts"`
	// LastExitCode is how the last process ended: its exit code, 128+n
	// when killed by signal n, 127 or 126 when it could not be started.
	LastExitCode *int `json:"last_exit_code,omitempty"`
	// LastSignal names the signal that killed the last process ("KILL").
	LastSignal string `json:"last_signal,omitempty"`
	// LastError says what went wrong last: a start that failed ("cannot
	// start: /srv/app: command not found") or, while the process is not
	// ready, the last failed readiness check.
	LastError string `json:"last_error,omitempty"`
	// StartedAt is when the current (or last) process started.
	StartedAt time.Time `json:"started_at,omitzero"`
}

// StartWorkload starts the workload name with spec (PUT
// /v1/workloads/{name}). If one of that name runs with the same spec it is
// left alone and its status answered; with another spec it is stopped and
// replaced. A bad spec is an ErrInvalidArgument error saying what to fix.
func (c *Client) StartWorkload(ctx context.Context, name string, spec WorkloadSpec) (*WorkloadStatus, error) {
	var st WorkloadStatus
	if err := c.DoJSON(ctx, http.MethodPut, workloadPath(name), nil, spec, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Workload returns the status of the workload name. With waitReady > 0 the
// agent first waits up to waitReady (at most MaxWorkloadWait) until it is
// ready or has ended for good; check Ready in the answer.
func (c *Client) Workload(ctx context.Context, name string, waitReady time.Duration) (*WorkloadStatus, error) {
	var q url.Values
	if waitReady > 0 {
		q = url.Values{"wait_ready_ms": {strconv.FormatInt(max(waitReady.Milliseconds(), 1), 10)}}
	}
	var st WorkloadStatus
	if err := c.DoJSON(ctx, http.MethodGet, workloadPath(name), q, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Workloads lists the supervised workloads by name.
func (c *Client) Workloads(ctx context.Context) ([]WorkloadStatus, error) {
	var list []WorkloadStatus
	if err := c.DoJSON(ctx, http.MethodGet, "/v1/workloads", nil, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// WorkloadLogs returns the last tail bytes of the workload's combined
// stdout and stderr (all the agent keeps, 64 KiB, when tail <= 0).
func (c *Client) WorkloadLogs(ctx context.Context, name string, tail int) ([]byte, error) {
	var q url.Values
	if tail > 0 {
		q = url.Values{"tail": {strconv.Itoa(tail)}}
	}
	resp, err := c.Do(ctx, http.MethodGet, workloadPath(name)+"/logs", q, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// WorkloadPreviousLogs returns the output of the workload's previous run
// (as much as the agent's log still keeps); ErrNotFound when it has not
// restarted.
func (c *Client) WorkloadPreviousLogs(ctx context.Context, name string) ([]byte, error) {
	resp, err := c.Do(ctx, http.MethodGet, workloadPath(name)+"/logs", url.Values{"previous": {"true"}}, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// StopWorkload stops the workload name (TERM to its process group, KILL
// after a grace period) and makes the agent forget it.
func (c *Client) StopWorkload(ctx context.Context, name string) error {
	return c.DoJSON(ctx, http.MethodDelete, workloadPath(name), nil, nil, nil)
}

func workloadPath(name string) string { return "/v1/workloads/" + url.PathEscape(name) }
