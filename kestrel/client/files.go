package client

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// FileInfo describes one file in the guest, as answered by the stat, list,
// write and mkdir routes.
type FileInfo struct {
	// Name is the last element of Path.
	Name string `json:"name"`
	// Path is the absolute guest path.
	Path string `json:"path"`
	// Size is the size in bytes (of the link itself for a symlink).
	Size int64 `json:"size"`
	// Mode is the permission bits with setuid, setgid and sticky, in octal ("0644").
	Mode string `json:"mode"`
	// ModeBits is the Unix st_mode: file type and permission bits.
	ModeBits uint32 `json:"mode_bits"`
	// IsDir reports whether the file is a directory.
	IsDir bool `json:"is_dir"`
	// IsSymlink reports whether the file is a symbolic link (never followed).
	IsSymlink bool `json:"is_symlink"`
	// LinkTarget is the target of a symbolic link, as stored in the link.
	LinkTarget string `json:"link_target,omitempty"`
	// ModTime is the last modification time.
	ModTime time.Time `json:"mod_time"`
	// UID and GID are the numeric owner and group.
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// FileMode returns ModeBits as an fs.FileMode.
func (fi *FileInfo) FileMode() fs.FileMode {
	m := fs.FileMode(fi.ModeBits & 0o777)
	if fi.ModeBits&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if fi.ModeBits&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if fi.ModeBits&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch fi.ModeBits & 0o170000 {
	case 0o040000:
		m |= fs.ModeDir
	case 0o120000:
		m |= fs.ModeSymlink
	case 0o010000:
		m |= fs.ModeNamedPipe
	case 0o140000:
		m |= fs.ModeSocket
	case 0o020000:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		m |= fs.ModeDevice
	}
	return m
}

// FileList is the answer of the list route.
type FileList struct {
	// Path is the listed directory.
	Path string `json:"path"`
	// Entries are sorted by name; a recursive listing walks depth first,
	// each directory's entries sorted by name. The directory itself is not
	// included.
	Entries []FileInfo `json:"entries"`
	// Truncated reports that more entries exist beyond the limit.
	Truncated bool `json:"truncated"`
}

// TarResult is the answer of a tar upload.
type TarResult struct {
	// Files counts regular files, symlinks and hard links written.
	Files int `json:"files"`
	// Dirs counts directories created or updated.
	Dirs int `json:"dirs"`
	// Bytes is the total size of regular files written.
	Bytes int64 `json:"bytes"`
}

// WriteOptions tune WriteFile.
type WriteOptions struct {
	// Mode is the new file's permission bits; zero keeps the mode of the
	// file being replaced, or 0644 for a new file, unless SetMode is true.
	Mode fs.FileMode
	// SetMode sends Mode even when it is zero: mode 0000 is a real mode,
	// not "keep".
	SetMode bool
	// MkdirAll creates missing parent directories (0755).
	MkdirAll bool
	// UID and GID, when set, own the new file; otherwise the owner of the
	// file being replaced is kept (root for a new file).
	UID, GID *int
}

// ListOptions tune List.
type ListOptions struct {
	// Recursive walks the whole tree below the directory (symlinks are not
	// followed).
	Recursive bool
	// Limit caps the number of entries; zero means the agent's default (10000).
	Limit int
}

// ReadFile streams length bytes of the guest file at path from offset;
// length <= 0 reads to the end. The caller closes the reader.
func (c *Client) ReadFile(ctx context.Context, path string, offset, length int64) (io.ReadCloser, error) {
	q := url.Values{"path": {path}}
	if offset > 0 {
		q.Set("offset", strconv.FormatInt(offset, 10))
	}
	if length > 0 {
		q.Set("length", strconv.FormatInt(length, 10))
	}
	resp, err := c.Do(ctx, http.MethodGet, "/v1/files", q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ReadFileAll reads the whole guest file at path, refusing files larger than
// limit bytes.
func (c *Client) ReadFileAll(ctx context.Context, path string, limit int64) ([]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("reading %s: limit must be positive", path)
	}
	rc, err := c.ReadFile(ctx, path, 0, limit+1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: fmt.Sprintf("file %s is larger than %d bytes: read it in ranges with an offset and length", path, limit)}
	}
	return data, nil
}

// WriteFile writes the content of r to the guest file at path, atomically:
// readers see the old or the new file, never a part. It answers the new
// file's stat.
func (c *Client) WriteFile(ctx context.Context, path string, r io.Reader, opts WriteOptions) (*FileInfo, error) {
	q := url.Values{"path": {path}}
	if opts.Mode != 0 || opts.SetMode {
		q.Set("mode", modeString(opts.Mode))
	}
	if opts.MkdirAll {
		q.Set("mkdir", "1")
	}
	setOwner(q, opts.UID, opts.GID)
	if r == nil {
		r = http.NoBody
	}
	var fi FileInfo
	if err := c.DoJSON(ctx, http.MethodPut, "/v1/files", q, r, &fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// Stat describes the guest file at path without following a final symlink.
func (c *Client) Stat(ctx context.Context, path string) (*FileInfo, error) {
	var fi FileInfo
	if err := c.DoJSON(ctx, http.MethodGet, "/v1/files/stat", url.Values{"path": {path}}, nil, &fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// List lists the guest directory at path.
func (c *Client) List(ctx context.Context, path string, opts ListOptions) (*FileList, error) {
	q := url.Values{"path": {path}}
	if opts.Recursive {
		q.Set("recursive", "1")
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var l FileList
	if err := c.DoJSON(ctx, http.MethodGet, "/v1/files/list", q, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Mkdir creates the guest directory at path and its parents (mkdir -p);
// a nil mode means 0755. An existing directory is fine.
func (c *Client) Mkdir(ctx context.Context, path string, mode *fs.FileMode) (*FileInfo, error) {
	q := url.Values{"path": {path}}
	if mode != nil {
		q.Set("mode", modeString(*mode))
	}
	var fi FileInfo
	if err := c.DoJSON(ctx, http.MethodPost, "/v1/files/mkdir", q, nil, &fi); err != nil {
		return nil, err
	}
	return &fi, nil
}

// Remove deletes the guest file or empty directory at path; recursive
// deletes a directory and everything in it.
func (c *Client) Remove(ctx context.Context, path string, recursive bool) error {
	q := url.Values{"path": {path}}
	if recursive {
		q.Set("recursive", "1")
	}
	return c.DoJSON(ctx, http.MethodDelete, "/v1/files", q, nil, nil)
}

// DownloadTar streams a tar archive of the guest file or directory tree at
// path. Names are relative to path (a single file is named by its base
// name); symlinks are kept as links; device files, fifos and sockets are
// left out. The caller closes the reader.
func (c *Client) DownloadTar(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, http.MethodGet, "/v1/files/tar", url.Values{"path": {path}}, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// UploadTar extracts the tar stream r into the guest directory dir (created
// if missing). Entries that would land outside dir are refused.
func (c *Client) UploadTar(ctx context.Context, dir string, r io.Reader) (*TarResult, error) {
	var res TarResult
	if err := c.DoJSON(ctx, http.MethodPut, "/v1/files/tar", url.Values{"path": {dir}}, r, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// modeString encodes the permission bits of m, with setuid, setgid and
// sticky, as the octal string the agent parses.
func modeString(m fs.FileMode) string {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return fmt.Sprintf("%04o", bits)
}

func setOwner(q url.Values, uid, gid *int) {
	if uid != nil {
		q.Set("uid", strconv.Itoa(*uid))
	}
	if gid != nil {
		q.Set("gid", strconv.Itoa(*gid))
	}
}
