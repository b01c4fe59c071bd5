package apiclient

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/volant-sh/volant/sandbox"
)

func workloadPath(id, name string) string {
	return sandboxPath(id, "workloads", url.PathEscape(name))
}

// StartWorkload starts the supervised workload name in a running sandbox
// (PUT /v1/sandboxes/{id}/workloads/{name}). The same spec again leaves the
// running one alone; another spec replaces it.
func (c *Client) StartWorkload(ctx context.Context, idOrName, name string, spec sandbox.WorkloadSpec) (*sandbox.WorkloadStatus, error) {
	var st sandbox.WorkloadStatus
	if err := c.call(ctx, request{method: http.MethodPut, path: workloadPath(idOrName, name), jsonBody: spec}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Workload returns the status of the workload name; with waitReady > 0 the
// server first waits up to that long until it is ready or ended for good.
func (c *Client) Workload(ctx context.Context, idOrName, name string, waitReady time.Duration) (*sandbox.WorkloadStatus, error) {
	var q url.Values
	if waitReady > 0 {
		q = url.Values{"wait_ready_ms": {strconv.FormatInt(max(waitReady.Milliseconds(), 1), 10)}}
	}
	var st sandbox.WorkloadStatus
	if err := c.call(ctx, request{method: http.MethodGet, path: workloadPath(idOrName, name), query: q}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Workloads lists the workloads supervised in a sandbox.
func (c *Client) Workloads(ctx context.Context, idOrName string) ([]sandbox.WorkloadStatus, error) {
	var out items[sandbox.WorkloadStatus]
	if err := c.call(ctx, request{method: http.MethodGet, path: sandboxPath(idOrName, "workloads")}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// WorkloadLogs returns the last tail bytes of the workload's combined
// output (all that is kept when tail <= 0).
func (c *Client) WorkloadLogs(ctx context.Context, idOrName, name string, tail int) ([]byte, error) {
	var q url.Values
	if tail > 0 {
		q = url.Values{"tail": {strconv.Itoa(tail)}}
	}
	return c.text(ctx, request{method: http.MethodGet, path: workloadPath(idOrName, name) + "/logs", query: q,
		header: http.Header{"Accept": {"text/plain, application/problem+json"}}})
}

// StopWorkload stops the workload name and makes the agent forget it.
func (c *Client) StopWorkload(ctx context.Context, idOrName, name string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: workloadPath(idOrName, name)}, nil)
}

// DialTCP opens one TCP connection to port inside the sandbox through the
// API's raw tunnel (GET /v1/sandboxes/{id}/tcp/{port}). ctx bounds the
// handshake only; close the connection to end it.
func (c *Client) DialTCP(ctx context.Context, idOrName string, port int) (net.Conn, error) {
	conn, err := c.dialWebSocket(ctx, sandboxPath(idOrName, "tcp", strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(-1)
	return websocket.NetConn(context.Background(), conn, websocket.MessageBinary), nil
}

// WorkloadPreviousLogs returns the output of the workload's previous run,
// before its last restart (GET .../logs?previous=true); ErrNotFound when
// it has not restarted.
func (c *Client) WorkloadPreviousLogs(ctx context.Context, idOrName, name string) ([]byte, error) {
	return c.text(ctx, request{method: http.MethodGet, path: workloadPath(idOrName, name) + "/logs", query: url.Values{"previous": {"true"}},
		header: http.Header{"Accept": {"text/plain, application/problem+json"}}})
}

// SandboxStats measures a running sandbox's usage on the host (GET
// /v1/sandboxes/{id}/stats): its VMM's CPU time and memory.
func (c *Client) SandboxStats(ctx context.Context, idOrName string) (*sandbox.UsageStats, error) {
	var st sandbox.UsageStats
	if err := c.call(ctx, request{method: http.MethodGet, path: sandboxPath(idOrName, "stats")}, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
