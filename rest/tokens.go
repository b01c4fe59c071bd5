package rest

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/auth"
)

type tokensOutput struct {
	Body struct {
		Items []*auth.Token `json:"items"`
	}
}

type createTokenInput struct {
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"What the token is for."`
		// The rules (default operator, never admin; lifetime bounds) are auth's.
		Scope      string `json:"scope,omitempty" enum:"read,operator,admin" doc:"What the token may do; default operator."`
		ExpiresInS int64  `json:"expires_in_s,omitempty" minimum:"0" doc:"Seconds until the token expires; 0 or absent: never."`
	}
}

type createTokenOutput struct {
	Body struct {
		ID        string     `json:"id" doc:"Token id, for revoking it."`
		Name      string     `json:"name"`
		Scope     auth.Scope `json:"scope"`
		CreatedAt time.Time  `json:"created_at"`
		ExpiresAt *time.Time `json:"expires_at,omitempty"`
		Token     string     `json:"token" doc:"The secret; it is shown only this once."`
	}
}

type tokenIDInput struct {
	ID string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Token id (not the secret)."`
}

func (s *server) tokenRoutes() {
	huma.Register(s.api, op(http.MethodGet, "/v1/tokens", "list-tokens", "tokens",
		"List API tokens", "Token records, revoked ones included; secrets are never shown again."),
		func(ctx context.Context, _ *struct{}) (*tokensOutput, error) {
			list, err := s.auth.List(ctx)
			if err != nil {
				return nil, s.fail(ctx, "list tokens", err)
			}
			out := &tokensOutput{}
			out.Body.Items = list
			if out.Body.Items == nil {
				out.Body.Items = []*auth.Token{}
			}
			return out, nil
		})

	create := op(http.MethodPost, "/v1/tokens", "create-token", "tokens",
		"Create an API token", "Answers the secret once; store it, it cannot be shown again.",
		http.StatusBadRequest, http.StatusConflict)
	create.DefaultStatus = http.StatusCreated
	create.MaxBodyBytes = 4 << 10
	huma.Register(s.api, create, func(ctx context.Context, in *createTokenInput) (*createTokenOutput, error) {
		tok, rec, err := s.auth.Create(ctx, in.Body.Name, auth.CreateOptions{Scope: auth.Scope(in.Body.Scope), TTL: time.Duration(min(in.Body.ExpiresInS, int64(auth.MaxTTL/time.Second)+1)) * time.Second})
		if err != nil {
			return nil, s.fail(ctx, "create token", err)
		}
		out := &createTokenOutput{}
		out.Body.ID, out.Body.Name, out.Body.Scope, out.Body.CreatedAt, out.Body.ExpiresAt = rec.ID, rec.Name, rec.Scope, rec.CreatedAt, rec.ExpiresAt
		out.Body.Token = tok
		return out, nil
	})

	del := op(http.MethodDelete, "/v1/tokens/{id}", "revoke-token", "tokens",
		"Revoke an API token", "Requests carrying the token fail from now on.", http.StatusNotFound)
	del.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, del, func(ctx context.Context, in *tokenIDInput) (*struct{}, error) {
		if err := s.auth.Revoke(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, "revoke token", err)
		}
		return nil, nil
	})
}
