package auth

import (
	"context"
	"net/http"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Where the MCP SDK's TokenInfo carries the token record and the Auth
// that checked it.
const (
	tokenInfoKey = "volant.token"
	authInfoKey  = "volant.auth"
)

// mcpTokenInfo hands the token of an authenticated request to the MCP
// SDK, which passes it to every call of the request (RequestExtra) and
// binds a session to the token that opened it (a session is refused to
// any other token).
func (a *Auth) mcpTokenInfo(next http.Handler) http.Handler {
	verify := func(ctx context.Context, _ string, _ *http.Request) (*sdkauth.TokenInfo, error) {
		rec, ok := FromContext(ctx)
		if !ok {
			return nil, sdkauth.ErrInvalidToken
		}
		info := &sdkauth.TokenInfo{UserID: rec.ID, Scopes: []string{string(rec.Scope)}, Extra: map[string]any{tokenInfoKey: rec, authInfoKey: a}}
		if rec.ExpiresAt != nil {
			info.Expiration = *rec.ExpiresAt
		}
		return info, nil
	}
	withInfo := sdkauth.RequireBearerToken(verify, &sdkauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			// A query token (an EventSource GET): no call rides on it.
			next.ServeHTTP(w, r)
			return
		}
		withInfo.ServeHTTP(w, r)
	})
}

// MCPMiddleware checks every tools/call against the scope table
// (ToolScope; builtin says whether a tool name is one of the server's
// own) and runs the call under a context that ends when its token is
// revoked or expires. A call without a token (stdio, run by the state
// directory's owner; the legacy SSE transport, which Middleware admits
// only with operator) is not checked here.
func MCPMiddleware(builtin func(name string) bool) sdk.Middleware {
	return func(next sdk.MethodHandler) sdk.MethodHandler {
		return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
			extra := req.GetExtra()
			if extra == nil || extra.TokenInfo == nil {
				return next(ctx, method, req)
			}
			rec, ok := extra.TokenInfo.Extra[tokenInfoKey].(*Token)
			a, aok := extra.TokenInfo.Extra[authInfoKey].(*Auth)
			if !ok || !aok {
				return next(ctx, method, req)
			}
			if method == "tools/call" {
				name := ""
				if p, ok := req.GetParams().(*sdk.CallToolParamsRaw); ok {
					name = p.Name
				}
				need, _ := ToolScope(name, builtin(name))
				if err := rec.require(need, "the tool "+name); err != nil {
					return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: err.Error()}}}, nil
				}
			}
			ctx, stop := a.Watch(context.WithValue(ctx, ctxKey{}, rec), rec)
			defer stop()
			return next(ctx, method, req)
		}
	}
}
