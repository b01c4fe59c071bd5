package apiclient

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/volant-sh/volant/sandbox"
)

// Health is the answer of GET /healthz.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// Health checks that the server is up; it needs no token.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.call(ctx, request{method: http.MethodGet, path: "/healthz"}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// System describes the engine and its host.
func (c *Client) System(ctx context.Context) (*sandbox.SystemInfo, error) {
	var s sandbox.SystemInfo
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/system"}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Metrics returns the Prometheus text exposition of GET /metrics.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	return c.text(ctx, request{method: http.MethodGet, path: "/metrics", header: http.Header{"Accept": {"text/plain"}}})
}

// OpenAPI returns the OpenAPI document the server serves, as JSON.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	return c.text(ctx, request{method: http.MethodGet, path: "/openapi.json"})
}

// text sends r and returns the whole answer.
func (c *Client) text(ctx context.Context, r request) ([]byte, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s %s: %w", r.method, r.path, err)
	}
	return b, nil
}
