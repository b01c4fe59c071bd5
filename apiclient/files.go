package apiclient

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"

	"github.com/volant-sh/volant/kestrel/client"
)

func filesPath(id string, more ...string) string {
	return sandboxPath(id, append([]string{"files"}, more...)...)
}

// ReadFile streams a file of the sandbox from offset; length 0 reads to
// the end. The caller closes the reader; a transfer the server breaks
// ends it with an error, never a silent EOF.
func (c *Client) ReadFile(ctx context.Context, idOrName, path string, offset, length int64) (io.ReadCloser, error) {
	q := url.Values{"path": {path}}
	if offset > 0 {
		q.Set("offset", strconv.FormatInt(offset, 10))
	}
	if length > 0 {
		q.Set("length", strconv.FormatInt(length, 10))
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: filesPath(idOrName), query: q,
		header: http.Header{"Accept": {"application/octet-stream, application/problem+json"}}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// WriteFile writes r to a file of the sandbox atomically and returns the
// file's stat. size is r's length when known (it lets the server refuse
// an upload over its limit at once), or -1. opts.UID and opts.GID are not
// part of the REST API and must be nil.
func (c *Client) WriteFile(ctx context.Context, idOrName, path string, r io.Reader, size int64, opts client.WriteOptions) (*client.FileInfo, error) {
	if opts.UID != nil || opts.GID != nil {
		return nil, fmt.Errorf("writing %s: the REST API does not set a file's owner; leave UID and GID nil", path)
	}
	q := url.Values{"path": {path}}
	if opts.Mode != 0 {
		q.Set("mode", formatMode(opts.Mode))
	}
	if opts.MkdirAll {
		q.Set("mkdir", "true")
	}
	body := r
	if size == 0 || r == nil {
		body = http.NoBody
	}
	req, err := c.newRequest(ctx, request{method: http.MethodPut, path: filesPath(idOrName), query: q,
		body: body, contentType: "application/octet-stream"})
	if err != nil {
		return nil, err
	}
	if size > 0 {
		req.ContentLength = size
	}
	var fi client.FileInfo
	if err := c.callRequest(ctx, req, &fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// formatMode renders permission bits with setuid, setgid and sticky in
// octal, as the API takes them.
func formatMode(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return fmt.Sprintf("%04o", n)
}

// Stat describes a path of the sandbox without following a final symlink.
func (c *Client) Stat(ctx context.Context, idOrName, path string) (*client.FileInfo, error) {
	var fi client.FileInfo
	if err := c.call(ctx, request{method: http.MethodGet, path: filesPath(idOrName, "stat"), query: url.Values{"path": {path}}}, &fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// ListFiles lists a directory of the sandbox.
func (c *Client) ListFiles(ctx context.Context, idOrName, path string, opts client.ListOptions) (*client.FileList, error) {
	q := url.Values{"path": {path}}
	if opts.Recursive {
		q.Set("recursive", "true")
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var l client.FileList
	if err := c.call(ctx, request{method: http.MethodGet, path: filesPath(idOrName, "list"), query: q}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Mkdir creates a directory and its parents (mkdir -p); mode 0 means
// 0755.
func (c *Client) Mkdir(ctx context.Context, idOrName, path string, mode fs.FileMode) (*client.FileInfo, error) {
	q := url.Values{"path": {path}}
	if mode != 0 {
		q.Set("mode", formatMode(mode))
	}
	var fi client.FileInfo
	if err := c.call(ctx, request{method: http.MethodPost, path: filesPath(idOrName, "mkdir"), query: q}, &fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// RemoveFile deletes a file, or a directory (which must be empty unless
// recursive).
func (c *Client) RemoveFile(ctx context.Context, idOrName, path string, recursive bool) error {
	q := url.Values{"path": {path}}
	if recursive {
		q.Set("recursive", "true")
	}
	return c.call(ctx, request{method: http.MethodDelete, path: filesPath(idOrName), query: q}, nil)
}

// DownloadTar streams a tar archive of a file or directory tree of the
// sandbox, names relative to path. The caller closes the reader.
func (c *Client) DownloadTar(ctx context.Context, idOrName, path string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: filesPath(idOrName, "tar"), query: url.Values{"path": {path}},
		header: http.Header{"Accept": {"application/x-tar, application/problem+json"}}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// UploadTar extracts the tar stream r into a directory of the sandbox
// (created if missing).
func (c *Client) UploadTar(ctx context.Context, idOrName, dir string, r io.Reader) (*client.TarResult, error) {
	var res client.TarResult
	if err := c.call(ctx, request{method: http.MethodPut, path: filesPath(idOrName, "tar"), query: url.Values{"path": {dir}},
		body: r, contentType: "application/x-tar"}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
