package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const tokenUsage = `usage: volar token COMMAND [ARGS]

Commands:
  create [--scope read|operator|admin] [--expires-in DURATION] NAME
                 issue a token (scope default operator); its secret is shown only this once
  ls             list tokens (never their secrets)
  revoke ID...   revoke tokens by id (not by secret)
`

func cmdToken(e *env, args []string) error {
	return subcommand(e, "token", args, map[string]func(*env, []string) error{
		"create": tokenCreate,
		"ls":     tokenList,
		"list":   tokenList,
		"revoke": tokenRevoke,
		"rm":     tokenRevoke,
	}, tokenUsage)
}

func tokenCreate(e *env, args []string) error {
	c := e.newCommand("volar token create [--scope SCOPE] [--expires-in DURATION] NAME")
	scope := c.fs.String("scope", "", "what the token may do: read, operator or admin (default operator)")
	expires := c.fs.Duration("expires-in", 0, "the token expires after this long, e.g. 24h (default never)")
	pos, api, err := c.open(e, args, 1, 1)
	if err != nil {
		return err
	}
	body := map[string]any{"name": pos[0]}
	if *scope != "" {
		body["scope"] = *scope
	}
	if *expires > 0 {
		body["expires_in_s"] = int64(expires.Seconds())
	}
	var t tokenInfo
	raw, err := api.call(e.ctx, request{method: http.MethodPost, path: "/v1/tokens", jsonBody: body}, &t)
	if err != nil {
		return err
	}
	switch {
	case e.g.json:
		printJSON(e.stdout, raw)
	case e.g.quiet:
		fmt.Fprintln(e.stdout, t.Token)
	default:
		fmt.Fprintln(e.stdout, t.Token)
		fmt.Fprintf(e.stderr, "token %s (%s, scope %s) created; the secret above is shown only this once. Revoke it with 'volar token revoke %s'.\n", t.ID, t.Name, t.Scope, t.ID)
	}
	return nil
}

func tokenList(e *env, args []string) error {
	return listCommand(e, args, "volar token ls", "/v1/tokens",
		func(t tokenInfo) string { return t.ID }, printTokens)
}

func printTokens(w io.Writer, tokens []tokenInfo) {
	tb := newTable(w, "ID", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED")
	for _, t := range tokens {
		tb.row(t.ID, t.Name, t.Scope, ago(t.CreatedAt), agoPtr(t.LastUsedAt), agoPtr(t.RevokedAt))
	}
	tb.flush()
}

func agoPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return ago(*t)
}

func tokenRevoke(e *env, args []string) error {
	c := e.newCommand("volar token revoke ID...")
	pos, api, err := c.open(e, args, 1, -1)
	if err != nil {
		return err
	}
	return forEach(e, pos, func(id string) error {
		_, err := api.call(e.ctx, request{method: http.MethodDelete, path: "/v1/tokens/" + url.PathEscape(id)}, nil)
		return err
	})
}
