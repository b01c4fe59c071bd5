package client

import (
	"context"
	"net/http"
)

// ImageConfig is the body of PUT /v1/rootfs: the defaults the image's
// config gives every process the agent starts in the image root. A
// request's own env, cwd and user win over them.
type ImageConfig struct {
	// Env holds "KEY=value" entries over the agent's defaults (the
	// image's PATH replaces the default PATH).
	Env []string `json:"env,omitempty"`
	// WorkingDir is the working directory of a request that names none.
	WorkingDir string `json:"working_dir,omitempty"`
	// User is the user of a request that names none: a name or uid,
	// optionally ":group" (a name or gid), as in an OCI image config.
	User string `json:"user,omitempty"`
}

// SetImageConfig gives a guest booted in an image root its image's
// defaults (PUT /v1/rootfs). It fails with errdefs.ErrConflict when the
// guest has no image root, and errdefs.ErrUnavailable, saying why, when
// mounting the root failed at boot.
func (c *Client) SetImageConfig(ctx context.Context, cfg ImageConfig) error {
	return c.DoJSON(ctx, http.MethodPut, "/v1/rootfs", nil, cfg, nil)
}

// Sync flushes every file system in the guest to its disks (POST
// /v1/sync), without needing a sync program in the guest's image.
func (c *Client) Sync(ctx context.Context) error {
	return c.DoJSON(ctx, http.MethodPost, "/v1/sync", nil, nil, nil)
}
