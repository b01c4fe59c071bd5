package auth

import (
	"context"
	"errors"
	"time"
)

// Why a watched context ends (context.Cause).
var (
	errRevoked = errUnauthenticated("the token was revoked")
	errExpired = errUnauthenticated("the token expired")
)

// watch is one context Revoke cancels.
type watch struct{ cancel context.CancelCauseFunc }

// Watch returns a context that ends when ctx does, when the token t is
// revoked, or at its expiry, and a stop function to call once the work is
// done. context.Cause of the returned context says why it ended. Handlers
// of streams (SSE, WebSocket exec and PTY, port tunnels, MCP sessions)
// served under Middleware get such a context as their request context, so
// revoking a token ends what it opened.
func (a *Auth) Watch(ctx context.Context, t *Token) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stopTimer := func() bool { return false }
	if t.ExpiresAt != nil {
		d := t.ExpiresAt.Sub(a.now())
		stopTimer = time.AfterFunc(max(d, 0), func() { cancel(errExpired) }).Stop
	}
	w := &watch{cancel: cancel}
	a.mu.Lock()
	set := a.watches[t.ID]
	if set == nil {
		set = map[*watch]struct{}{}
		a.watches[t.ID] = set
	}
	set[w] = struct{}{}
	a.mu.Unlock()
	return ctx, func() {
		stopTimer()
		a.mu.Lock()
		delete(a.watches[t.ID], w)
		if len(a.watches[t.ID]) == 0 {
			delete(a.watches, t.ID)
		}
		a.mu.Unlock()
		cancel(context.Canceled)
	}
}

// cancelWatches ends every watched context of token id, answering how
// many there were.
func (a *Auth) cancelWatches(id string, cause error) int {
	a.mu.Lock()
	set := a.watches[id]
	delete(a.watches, id)
	a.mu.Unlock()
	for w := range set {
		w.cancel(cause)
	}
	return len(set)
}

// Ended reports whether ctx ended because its token was revoked or expired
// (and not because the client went away).
func Ended(ctx context.Context) bool {
	c := context.Cause(ctx)
	return errors.Is(c, errRevoked) || errors.Is(c, errExpired)
}
