package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/volant-sh/volant/sandbox"
)

func imagePath(ref string) string { return "/v1/images/" + url.PathEscape(ref) }

// ListImages returns every image in the store, newest first.
func (c *Client) ListImages(ctx context.Context) ([]*sandbox.Image, error) {
	var out items[*sandbox.Image]
	if err := c.call(ctx, request{method: http.MethodGet, path: "/v1/images"}, &out); err != nil {
		return nil, err
	}
	return out.Items, nil
}

// GetImage returns one image by name, reference, digest or digest prefix.
func (c *Client) GetImage(ctx context.Context, ref string) (*sandbox.Image, error) {
	var img sandbox.Image
	if err := c.call(ctx, request{method: http.MethodGet, path: imagePath(ref)}, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// PullImage pulls a reference (req.Ref) or imports a layout or tarball on
// the daemon's host (req.Path); it answers once the image is converted.
// Progress is published as image.progress events.
func (c *Client) PullImage(ctx context.Context, req sandbox.ImagePullRequest) (*sandbox.Image, error) {
	var img sandbox.Image
	if err := c.call(ctx, request{method: http.MethodPost, path: "/v1/images", jsonBody: req}, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// UploadImage imports a docker save or OCI archive tarball read from r,
// recorded under name when it is not empty.
func (c *Client) UploadImage(ctx context.Context, name string, r io.Reader) (*sandbox.Image, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	var img sandbox.Image
	if err := c.call(ctx, request{method: http.MethodPost, path: "/v1/images", query: q, body: r, contentType: "application/x-tar"}, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// DeleteImage deletes an image no sandbox or template uses.
func (c *Client) DeleteImage(ctx context.Context, ref string) error {
	return c.call(ctx, request{method: http.MethodDelete, path: imagePath(ref)}, nil)
}
