package mcp

import (
	"context"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/sandbox/sandboxfake"
)

// newFakeEngine is the shared fake engine: the engine's own rules and
// errors over the real agent handlers.
func newFakeEngine(t testing.TB) *sandboxfake.Engine { return sandboxfake.New(t) }

// feedOf is the change feed of a fake engine.
func feedOf(e *sandboxfake.Engine) ChangeFeed {
	return func(ctx context.Context, fn func(Change)) error {
		return e.Watch(ctx, func(c sandboxfake.Change) { fn(Change{SandboxID: c.SandboxID, Deleted: c.Deleted}) })
	}
}

// connect starts a Server on eng and returns a client session over
// in-memory transports.
func connect(t testing.TB, eng Engine, feed ChangeFeed, copts *sdk.ClientOptions) (*Server, *sdk.ClientSession) {
	t.Helper()
	return connectOpts(t, Options{Manager: eng, Events: feed, Version: "test"}, copts)
}

// connectOpts is connect with all the server's options.
func connectOpts(t testing.TB, opts Options, copts *sdk.ClientOptions) (*Server, *sdk.ClientSession) {
	t.Helper()
	s := New(opts)
	t.Cleanup(func() { s.Close() })
	st, ct := sdk.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := s.SDK().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, copts).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return s, cs
}
