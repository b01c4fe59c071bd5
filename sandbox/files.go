package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
)

// MaxInlineWriteBytes caps a write whose content comes inline in a request
// (not streamed): larger files are streamed or written in parts.
const MaxInlineWriteBytes = 16 << 20

// MaxListEntries caps one listing.
const MaxListEntries = 100000

// FileRequest names one guest path.
type FileRequest struct {
	Path string `json:"path" query:"path" doc:"Absolute path in the sandbox." jsonschema:"absolute path in the sandbox"`
}

// Validate reports what is wrong with r.
func (r FileRequest) Validate() error { return validatePath(r.Path) }

// ReadFileRequest reads a range of a file.
type ReadFileRequest struct {
	Path string `json:"path" jsonschema:"absolute path of the file in the sandbox"`
	// Offset is the first byte; Length the most bytes (0: to the end).
	Offset int64 `json:"offset,omitempty" jsonschema:"byte offset to start reading at"`
	Length int64 `json:"length,omitempty" jsonschema:"bytes to read; 0 means to the end, at most 4 MiB per call"`
}

// Validate reports what is wrong with r.
func (r ReadFileRequest) Validate() error {
	if err := validatePath(r.Path); err != nil {
		return err
	}
	if r.Offset < 0 || r.Length < 0 {
		return errdefs.Invalid("offset %d, length %d: must not be negative", r.Offset, r.Length)
	}
	return nil
}

// WriteFileRequest writes a whole file atomically.
type WriteFileRequest struct {
	Path string `json:"path" jsonschema:"absolute path of the file to write; it is replaced atomically"`
	// Mode is the new file's mode; empty keeps the old file's, or 0644.
	Mode Mode `json:"mode,omitempty" jsonschema:"octal permission bits such as 0755; empty keeps the old file's mode, or 0644"`
	// Mkdir creates missing parent directories.
	Mkdir bool `json:"mkdir,omitempty"`
	// Content, when not nil, is the file's content given inline (capped
	// at MaxInlineWriteBytes); otherwise the content is streamed.
	Content []byte `json:"-"`
}

// Validate reports what is wrong with r.
func (r WriteFileRequest) Validate() error {
	if err := validatePath(r.Path); err != nil {
		return err
	}
	if _, _, err := r.Mode.Parse(); err != nil {
		return err
	}
	if len(r.Content) > MaxInlineWriteBytes {
		return errdefs.Invalid("content: %d bytes is more than %d; write large files in parts or upload them as a stream", len(r.Content), MaxInlineWriteBytes)
	}
	return nil
}

// ListFilesRequest lists a directory.
type ListFilesRequest struct {
	Path      string `json:"path" jsonschema:"absolute path of the directory to list"`
	Recursive bool   `json:"recursive,omitempty" jsonschema:"walk the whole tree below path"`
	// Limit caps the entries; 0 means 10000.
	Limit int `json:"limit,omitempty" jsonschema:"cap on entries; 0 means 10000"`
}

// Validate reports what is wrong with r.
func (r ListFilesRequest) Validate() error {
	if err := validatePath(r.Path); err != nil {
		return err
	}
	if r.Limit < 0 || r.Limit > MaxListEntries {
		return errdefs.Invalid("limit %d: must be between 0 (default 10000) and %d", r.Limit, MaxListEntries)
	}
	return nil
}

// MkdirRequest creates a directory and its parents.
type MkdirRequest struct {
	Path string `json:"path"`
	// Mode is the new directories' mode; empty means 0755.
	Mode Mode `json:"mode,omitempty"`
}

// Validate reports what is wrong with r.
func (r MkdirRequest) Validate() error {
	if err := validatePath(r.Path); err != nil {
		return err
	}
	_, _, err := r.Mode.Parse()
	return err
}

// RemoveFileRequest removes a file or directory.
type RemoveFileRequest struct {
	Path      string `json:"path" jsonschema:"absolute path of the file or directory to remove"`
	Recursive bool   `json:"recursive,omitempty" jsonschema:"remove a non-empty directory and everything in it"`
}

// Validate reports what is wrong with r; the root directory is never
// removed.
func (r RemoveFileRequest) Validate() error {
	if err := validatePath(r.Path); err != nil {
		return err
	}
	if path.Clean(r.Path) == "/" {
		return errRemoveRoot
	}
	return nil
}

// errRemoveRoot refuses to empty a sandbox file by file.
var errRemoveRoot = errdefs.Invalid("path /: refusing to remove the root directory; delete the sandbox instead")

// ReadFile streams a range of a guest file; the caller closes it.
func (g *Guest) ReadFile(ctx context.Context, req ReadFileRequest) (io.ReadCloser, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	rc, err := a.ReadFile(ctx, req.Path, req.Offset, req.Length)
	return rc, fileError(err)
}

// WriteFile writes req.Content, or else r, to a guest file atomically.
func (g *Guest) WriteFile(ctx context.Context, req WriteFileRequest, r io.Reader) (*client.FileInfo, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	mode, set, _ := req.Mode.Parse()
	if req.Content != nil {
		r = bytes.NewReader(req.Content)
	}
	fi, err := a.WriteFile(ctx, req.Path, r, client.WriteOptions{Mode: mode, SetMode: set, MkdirAll: req.Mkdir})
	return fi, fileError(err)
}

// StatFile describes a guest file without following a final symlink.
func (g *Guest) StatFile(ctx context.Context, req FileRequest) (*client.FileInfo, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	fi, err := a.Stat(ctx, req.Path)
	return fi, fileError(err)
}

// ListFiles lists a guest directory.
func (g *Guest) ListFiles(ctx context.Context, req ListFilesRequest) (*client.FileList, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	l, err := a.List(ctx, req.Path, client.ListOptions{Recursive: req.Recursive, Limit: req.Limit})
	if err != nil {
		return nil, fileError(err)
	}
	if l.Entries == nil {
		l.Entries = []client.FileInfo{}
	}
	return l, nil
}

// Mkdir creates a guest directory and its parents; an existing one is fine.
func (g *Guest) Mkdir(ctx context.Context, req MkdirRequest) (*client.FileInfo, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	var mode *fs.FileMode
	if mm, set, _ := req.Mode.Parse(); set {
		mode = &mm
	}
	fi, err := a.Mkdir(ctx, req.Path, mode)
	return fi, fileError(err)
}

// RemoveFile removes a guest file, or a directory (with everything in it
// when recursive).
func (g *Guest) RemoveFile(ctx context.Context, req RemoveFileRequest) error {
	a, err := g.agentFor(ctx, req.Validate)
	if errors.Is(err, errRemoveRoot) {
		return errdefs.WithRemedy(err, errdefs.OpSandboxDelete, "id", g.id)
	}
	if err != nil {
		return err
	}
	return fileError(a.Remove(ctx, req.Path, req.Recursive))
}

// DownloadTar streams a tar archive of a guest file or directory tree; the
// caller closes it.
func (g *Guest) DownloadTar(ctx context.Context, req FileRequest) (io.ReadCloser, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	rc, err := a.DownloadTar(ctx, req.Path)
	return rc, fileError(err)
}

// UploadTar extracts a tar stream into a guest directory (created if
// missing).
func (g *Guest) UploadTar(ctx context.Context, req FileRequest, r io.Reader) (*client.TarResult, error) {
	a, err := g.agentFor(ctx, req.Validate)
	if err != nil {
		return nil, err
	}
	res, err := a.UploadTar(ctx, req.Path, r)
	return res, fileError(err)
}

// fileError adds the remedy of a missing path to an agent's error.
func fileError(err error) error {
	if err != nil && errors.Is(err, errdefs.ErrNotFound) {
		return errdefs.WithRemedy(err, errdefs.OpFileList)
	}
	return err
}
