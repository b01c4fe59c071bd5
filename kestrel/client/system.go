package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Health asks the agent how the guest is doing.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.DoJSON(ctx, http.MethodGet, "/v1/health", nil, nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// WaitReady retries Health until the agent answers or ctx ends, for
// example while the guest boots or after a snapshot restore.
func (c *Client) WaitReady(ctx context.Context) (*Health, error) {
	delay := 20 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		h, err := c.Health(attempt)
		cancel()
		if err == nil {
			return h, nil
		}
		// Stale connections from before a restore are useless now.
		c.CloseIdle()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the agent: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// Reconfigure gives the guest a new identity (address, MAC, hostname,
// clock, entropy), typically right after a snapshot restore.
func (c *Client) Reconfigure(ctx context.Context, req ReconfigureRequest) error {
	return c.DoJSON(ctx, http.MethodPost, "/v1/reconfigure", nil, req, nil)
}

// Poweroff asks the guest to power off; the agent answers first, then
// ends every process, syncs and powers the machine off.
func (c *Client) Poweroff(ctx context.Context) error {
	return c.DoJSON(ctx, http.MethodPost, "/v1/poweroff", nil, nil, nil)
}
