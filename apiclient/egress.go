package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/volant-sh/volant/sandbox"
)

// GetEgress returns a sandbox's egress policy, the ceiling over it and
// its counters.
func (c *Client) GetEgress(ctx context.Context, idOrName string) (*sandbox.EgressInfo, error) {
	return c.egressCall(ctx, request{method: http.MethodGet, path: sandboxPath(idOrName, "egress")})
}

// SetEgress replaces a running sandbox's egress policy; new connections
// follow it.
func (c *Client) SetEgress(ctx context.Context, idOrName string, p sandbox.EgressPolicy) (*sandbox.EgressInfo, error) {
	return c.egressCall(ctx, request{method: http.MethodPut, path: sandboxPath(idOrName, "egress"), jsonBody: p})
}

// ResetEgress drops a sandbox's own policy: the operator's default applies.
func (c *Client) ResetEgress(ctx context.Context, idOrName string) (*sandbox.EgressInfo, error) {
	return c.egressCall(ctx, request{method: http.MethodDelete, path: sandboxPath(idOrName, "egress")})
}

func (c *Client) egressCall(ctx context.Context, r request) (*sandbox.EgressInfo, error) {
	var info sandbox.EgressInfo
	if err := c.call(ctx, r, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// PutSecret stores a secret in the daemon's store; its value is never
// returned.
func (c *Client) PutSecret(ctx context.Context, req sandbox.PutSecretRequest) (*sandbox.SecretInfo, error) {
	var info sandbox.SecretInfo
	if err := c.call(ctx, request{method: http.MethodPost, path: "/v1/secrets", jsonBody: req}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// ListSecrets lists the names of stored secrets.
func (c *Client) ListSecrets(ctx context.Context) ([]*sandbox.SecretInfo, error) {
	var out items[*sandbox.SecretInfo]
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/secrets"}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// DeleteSecret deletes a stored secret.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/v1/secrets/" + url.PathEscape(name)}, nil)
}
