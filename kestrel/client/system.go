package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/volant-sh/volant/internal/poll"
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
	var h *Health
	err := poll.Until(ctx, poll.Backoff{First: 20 * time.Millisecond, Max: 500 * time.Millisecond, Attempt: 2 * time.Second},
		func(ctx context.Context) error {
			var err error
			h, err = c.Ready(ctx)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("waiting for the agent: %w", err)
	}
	return h, nil
}

// Ready asks once whether the agent answers; on failure it drops idle
// connections, which are useless after a restore, so the next try dials
// afresh. Callers that retry (with their own deadline) call Ready, not
// WaitReady.
func (c *Client) Ready(ctx context.Context) (*Health, error) {
	h, err := c.Health(ctx)
	if err != nil {
		c.CloseIdle()
		return nil, err
	}
	return h, nil
}

// Settle asks the agent to wait until the guest kernel's deferred boot
// work is done (see PROTOCOL.md), before a snapshot that is restored many
// times; it returns how long the agent waited.
func (c *Client) Settle(ctx context.Context) (time.Duration, error) {
	var resp SettleResponse
	if err := c.DoJSON(ctx, http.MethodPost, "/v1/settle", nil, nil, &resp); err != nil {
		return 0, err
	}
	return time.Duration(resp.WaitedMS) * time.Millisecond, nil
}

// Reconfigure gives the guest a new identity (address, MAC, hostname,
// clock, entropy), typically right after a snapshot restore. It fails
// unless the guest confirms the network part of req applied (see
// ReconfigureRequest.Confirm): an answer that does not show it is an
// error, whatever its status.
func (c *Client) Reconfigure(ctx context.Context, req ReconfigureRequest) (*ReconfigureResponse, error) {
	var resp ReconfigureResponse
	if err := c.DoJSON(ctx, http.MethodPost, "/v1/reconfigure", nil, req, &resp); err != nil {
		return nil, err
	}
	if err := req.Confirm(resp.Net); err != nil {
		return &resp, err
	}
	return &resp, nil
}

// Confirm checks that st, the interface as the guest reports it, has the
// address, default route and MAC r gives it, and is up. It is nil when r
// does not touch the network.
func (r ReconfigureRequest) Confirm(st *NetState) error {
	if r.IPCIDR == "" && r.Gateway == "" && r.MAC == "" {
		return nil
	}
	if st == nil {
		return errors.New("the guest did not confirm its network identity (no interface state in its answer)")
	}
	var miss []string
	if r.MAC != "" && !strings.EqualFold(st.MAC, r.MAC) {
		miss = append(miss, fmt.Sprintf("mac %s, not %s", st.MAC, r.MAC))
	}
	if !st.Up {
		miss = append(miss, "link down")
	}
	if r.IPCIDR != "" && !slices.Contains(st.Addrs, r.IPCIDR) {
		miss = append(miss, fmt.Sprintf("addresses %v, not %s", st.Addrs, r.IPCIDR))
	}
	if r.Gateway != "" && st.Gateway != r.Gateway {
		miss = append(miss, fmt.Sprintf("default route via %q, not %s", st.Gateway, r.Gateway))
	}
	if len(miss) > 0 {
		return fmt.Errorf("the guest's %s does not have its identity: %s", st.Link, strings.Join(miss, "; "))
	}
	return nil
}

// Poweroff asks the guest to power off; the agent answers first, then
// ends every process, syncs and powers the machine off.
func (c *Client) Poweroff(ctx context.Context) error {
	return c.DoJSON(ctx, http.MethodPost, "/v1/poweroff", nil, nil, nil)
}
