package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/volant-sh/volant/auth"
)

// NewToken is the answer of POST /v1/tokens: the token's record and its
// secret, which the server shows only this once.
type NewToken struct {
	auth.Token
	// Secret is the token itself (vol_...).
	Secret string `json:"token"`
}

// TokenOptions are the optional parts of a new token.
type TokenOptions struct {
	// Scope is read, operator or admin; empty means the server's default
	// (operator).
	Scope auth.Scope `json:"scope,omitempty"`
	// ExpiresInS is how many seconds the token lives; 0 means for ever.
	ExpiresInS int64 `json:"expires_in_s,omitempty"`
}

// CreateToken issues an API token named name.
func (c *Client) CreateToken(ctx context.Context, name string, opts TokenOptions) (*NewToken, error) {
	body := struct {
		Name string `json:"name"`
		TokenOptions
	}{name, opts}
	var t NewToken
	if err := c.call(ctx, request{method: http.MethodPost, path: "/v1/tokens", jsonBody: body}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTokens returns the token records, revoked ones included (never
// their secrets).
func (c *Client) ListTokens(ctx context.Context) ([]*auth.Token, error) {
	var out items[*auth.Token]
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/tokens"}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// RevokeToken revokes the token of an id (not of a secret).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: "/v1/tokens/" + url.PathEscape(id)}, nil)
}
