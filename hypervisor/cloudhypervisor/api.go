package cloudhypervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// apiClient calls Cloud Hypervisor's REST API on its unix socket. The
// paths and bodies are those of the API document (servers: /api/v1).
type apiClient struct {
	socket string
	http   *http.Client
}

func newAPIClient(socket string) *apiClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		// One connection, kept open and shared: requests wait their turn
		// rather than open a second one to a VMM that may serve one
		// client at a time. Close gives it up for the next daemon.
		MaxConnsPerHost: 1,
		MaxIdleConns:    1,
		IdleConnTimeout: 30 * time.Second,
	}
	return &apiClient{socket: socket, http: &http.Client{Transport: tr}}
}

// apiError is an answer of the VMM outside 2xx.
type apiError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *apiError) Error() string {
	msg := strings.TrimSpace(e.Body)
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("cloud-hypervisor %s %s: %d: %s", e.Method, e.Path, e.Status, msg)
}

// Is maps the document's statuses onto errdefs classes: 404 (not
// created), 405 (wrong state) and 409 are conflicts with the VM's state;
// 400 is a bad request.
func (e *apiError) Is(target error) bool {
	switch target {
	case errdefs.ErrConflict:
		return e.Status == http.StatusNotFound || e.Status == http.StatusMethodNotAllowed || e.Status == http.StatusConflict
	case errdefs.ErrInvalidArgument:
		return e.Status == http.StatusBadRequest
	}
	return false
}

// call does one request: method on /api/v1/<endpoint> with body as JSON
// (nil: none), decoding a JSON answer into out (nil: ignored).
func (c *apiClient) call(ctx context.Context, method, endpoint string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	path := "/api/v1/" + endpoint
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cloud-hypervisor %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("cloud-hypervisor %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &apiError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("cloud-hypervisor %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

func (c *apiClient) ping(ctx context.Context) (vmmPing, error) {
	var p vmmPing
	err := c.call(ctx, http.MethodGet, "vmm.ping", nil, &p)
	return p, err
}

func (c *apiClient) create(ctx context.Context, vc vmConfig) error {
	return c.call(ctx, http.MethodPut, "vm.create", vc, nil)
}

func (c *apiClient) info(ctx context.Context) (vmInfo, error) {
	var i vmInfo
	err := c.call(ctx, http.MethodGet, "vm.info", nil, &i)
	return i, err
}

// put does a PUT without a body (vm.boot, vm.pause, vm.resume,
// vm.shutdown, vm.power-button, vmm.shutdown).
func (c *apiClient) put(ctx context.Context, endpoint string) error {
	return c.call(ctx, http.MethodPut, endpoint, nil, nil)
}

func (c *apiClient) snapshot(ctx context.Context, dir string) error {
	return c.call(ctx, http.MethodPut, "vm.snapshot", snapshotConfig{DestinationURL: "file://" + dir}, nil)
}

func (c *apiClient) restore(ctx context.Context, rc restoreConfig) error {
	return c.call(ctx, http.MethodPut, "vm.restore", rc, nil)
}

func (c *apiClient) resize(ctx context.Context, r vmResize) error {
	return c.call(ctx, http.MethodPut, "vm.resize", r, nil)
}

func (c *apiClient) close() { c.http.CloseIdleConnections() }

// waitAPI pings the API socket until the VMM answers, it exits (exited
// reports so) or ctx ends.
func (c *apiClient) waitAPI(ctx context.Context, exited func() bool) (vmmPing, error) {
	delay := 2 * time.Millisecond
	for {
		p, err := c.ping(ctx)
		if err == nil {
			return p, nil
		}
		var ae *apiError
		if errors.As(err, &ae) {
			return p, err
		}
		if exited() {
			return p, fmt.Errorf("cloud-hypervisor exited before its API answered: %w", err)
		}
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("waiting for the cloud-hypervisor API: %w (last: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}
