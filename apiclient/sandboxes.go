package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/volant-sh/volant/sandbox"
)

// CreateSandbox creates a sandbox (POST /v1/sandboxes) and returns it once
// its agent is up.
func (c *Client) CreateSandbox(ctx context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	var sb sandbox.Sandbox
	if err := c.call(ctx, request{method: http.MethodPost, path: "/v1/sandboxes", jsonBody: spec}, &sb); err != nil {
		return nil, err
	}
	return &sb, nil
}

// ListSandboxes returns one page of sandboxes (GET /v1/sandboxes), oldest
// first; pass the page's Next as opts.Cursor for the next one.
func (c *Client) ListSandboxes(ctx context.Context, opts sandbox.ListOptions) (*sandbox.ListPage, error) {
	q := url.Values{}
	for _, s := range opts.States {
		q.Add("state", string(s))
	}
	keys := make([]string, 0, len(opts.Labels))
	for k := range opts.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Add("label", k+"="+opts.Labels[k])
	}
	if opts.Runtime != "" {
		q.Set("runtime", opts.Runtime)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	var page sandbox.ListPage
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/sandboxes", query: q}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// GetSandbox returns the sandbox of an id or name.
func (c *Client) GetSandbox(ctx context.Context, idOrName string) (*sandbox.Sandbox, error) {
	return c.sandboxCall(ctx, http.MethodGet, sandboxPath(idOrName))
}

// DeleteSandbox stops the sandbox if needed and removes it.
func (c *Client) DeleteSandbox(ctx context.Context, idOrName string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: sandboxPath(idOrName)}, nil)
}

// StartSandbox boots a stopped sandbox again.
func (c *Client) StartSandbox(ctx context.Context, idOrName string) (*sandbox.Sandbox, error) {
	return c.sandboxCall(ctx, http.MethodPost, sandboxPath(idOrName, "start"))
}

// StopSandbox powers a sandbox off, keeping its record, disks and address.
func (c *Client) StopSandbox(ctx context.Context, idOrName string) (*sandbox.Sandbox, error) {
	return c.sandboxCall(ctx, http.MethodPost, sandboxPath(idOrName, "stop"))
}

// PauseSandbox freezes a sandbox's vCPUs.
func (c *Client) PauseSandbox(ctx context.Context, idOrName string) (*sandbox.Sandbox, error) {
	return c.sandboxCall(ctx, http.MethodPost, sandboxPath(idOrName, "pause"))
}

// HibernateSandbox saves a sandbox to disk and ends its VM; the next
// request that needs its guest wakes it.
func (c *Client) HibernateSandbox(ctx context.Context, idOrName string) (*sandbox.Sandbox, error) {
	return c.sandboxCall(ctx, http.MethodPost, sandboxPath(idOrName, "hibernate"))
}

// ResumeSandbox runs a paused sandbox again.
func (c *Client) ResumeSandbox(ctx context.Context, idOrName string) (*sandbox.Sandbox, error) {
	return c.sandboxCall(ctx, http.MethodPost, sandboxPath(idOrName, "resume"))
}

func (c *Client) sandboxCall(ctx context.Context, method, path string) (*sandbox.Sandbox, error) {
	var sb sandbox.Sandbox
	if err := c.call(ctx, request{method: method, path: path}, &sb); err != nil {
		return nil, err
	}
	return &sb, nil
}

// SnapshotSandbox saves a running or paused sandbox; it keeps running.
func (c *Client) SnapshotSandbox(ctx context.Context, idOrName string) (*sandbox.Snapshot, error) {
	var sn sandbox.Snapshot
	if err := c.call(ctx, request{method: http.MethodPost, path: sandboxPath(idOrName, "snapshot")}, &sn); err != nil {
		return nil, err
	}
	return &sn, nil
}

// ForkSandbox snapshots a sandbox and restores count clones of it (0
// means 1), each with its own identity.
func (c *Client) ForkSandbox(ctx context.Context, idOrName string, count int) ([]*sandbox.Sandbox, error) {
	body := struct {
		Count int `json:"count,omitempty"`
	}{count}
	var out items[*sandbox.Sandbox]
	if err := c.call(ctx, request{method: http.MethodPost, path: sandboxPath(idOrName, "fork"), jsonBody: body}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}
