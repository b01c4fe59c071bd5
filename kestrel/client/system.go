package client

import (
	"context"
	"net/http"
	"time"
)

// Health asks the agent how the guest is.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.DoJSON(ctx, http.MethodGet, "/v1/health", nil, nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// WaitReady retries Health until the agent answers or ctx ends, and
// returns the first answer.
func (c *Client) WaitReady(ctx context.Context) (*Health, error) {
	delay := 10 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		h, err := c.Health(actx)
		cancel()
		if err == nil {
			return h, nil
		}
		c.CloseIdle()
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// Poweroff asks the guest to power off cleanly; the agent answers first.
func (c *Client) Poweroff(ctx context.Context) error {
	return c.DoJSON(ctx, http.MethodPost, "/v1/poweroff", nil, nil, nil)
}

// Reconfigure gives a restored guest its own identity: address, MAC,
// hostname, clock and fresh entropy.
func (c *Client) Reconfigure(ctx context.Context, req ReconfigureRequest) error {
	return c.DoJSON(ctx, http.MethodPost, "/v1/reconfigure", nil, req, nil)
}
