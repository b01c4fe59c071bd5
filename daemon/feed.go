package daemon

import (
	"context"

	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/mcp"
)

// changeFeed adapts the event bus to the MCP server's change feed: every
// sandbox event is a change; deletions say so. A subscription dropped for
// falling behind resumes from the last event seen.
func changeFeed(bus *events.Bus) mcp.ChangeFeed {
	return func(ctx context.Context, fn func(mcp.Change)) error {
		from := int64(-1)
		for ctx.Err() == nil {
			ch, stop := bus.Subscribe(ctx, from, events.Filter{Types: []string{"sandbox.*"}})
			for e := range ch {
				from = e.Seq
				fn(mcp.Change{SandboxID: e.SandboxID, Deleted: e.Type == events.SandboxDeleted})
			}
			stop()
		}
		return ctx.Err()
	}
}
