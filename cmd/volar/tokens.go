package main

import (
	"fmt"
	"io"
	"time"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/auth"
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
	ctx, raw := e.rawContext()
	t, err := api.CreateToken(ctx, pos[0], apiclient.TokenOptions{Scope: auth.Scope(*scope), ExpiresInS: int64(expires.Seconds())})
	if err != nil {
		return err
	}
	switch {
	case e.g.json:
		printJSON(e.stdout, *raw)
	case e.g.quiet:
		fmt.Fprintln(e.stdout, t.Secret)
	default:
		fmt.Fprintln(e.stdout, t.Secret)
		fmt.Fprintf(e.stderr, "token %s (%s, scope %s) created; the secret above is shown only this once. Revoke it with 'volar token revoke %s'.\n", t.ID, t.Name, t.Scope, t.ID)
	}
	return nil
}

func tokenList(e *env, args []string) error {
	return listCommand(e, args, "volar token ls", (*api).ListTokens,
		func(t *auth.Token) string { return t.ID }, printTokens)
}

func printTokens(w io.Writer, tokens []*auth.Token) {
	tb := newTable(w, "ID", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED")
	for _, t := range tokens {
		tb.row(t.ID, t.Name, string(t.Scope), ago(t.CreatedAt), agoPtr(t.LastUsedAt), agoPtr(t.RevokedAt))
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
	return forEach(e, pos, func(id string) error { return api.RevokeToken(e.ctx, id) })
}
