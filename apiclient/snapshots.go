package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/volant-sh/volant/sandbox"
)

func snapshotPath(id string) string { return "/v1/snapshots/" + url.PathEscape(id) }

// ListSnapshots returns every snapshot, oldest first.
func (c *Client) ListSnapshots(ctx context.Context) ([]*sandbox.Snapshot, error) {
	var out items[*sandbox.Snapshot]
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/snapshots"}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// GetSnapshot returns one snapshot.
func (c *Client) GetSnapshot(ctx context.Context, id string) (*sandbox.Snapshot, error) {
	var sn sandbox.Snapshot
	if err := c.call(ctx, request{method: http.MethodGet, path: snapshotPath(id)}, &sn); err != nil {
		return nil, err
	}
	return &sn, nil
}

// DeleteSnapshot removes a snapshot nothing depends on.
func (c *Client) DeleteSnapshot(ctx context.Context, id string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: snapshotPath(id)}, nil)
}
