package mcp

import (
	"context"
	"encoding/base64"
	"io"
	"strconv"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/sandbox"
)

// maxFileRead caps one file_read; larger files are read in ranges.
const maxFileRead = 4 << 20

// FileReadInput is the input of file_read: the engine's request, the
// sandbox and the encoding of the answer.
type FileReadInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of a running sandbox"`
	sandbox.ReadFileRequest
	Encoding string `json:"encoding,omitempty" jsonschema:"utf8 (default) returns text; base64 returns the bytes base64-encoded, for binary files"`
}

// FileReadOutput is the output of file_read.
type FileReadOutput struct {
	Path     string `json:"path"`
	Content  string `json:"content" jsonschema:"the file's content, as text or base64 per encoding"`
	Encoding string `json:"encoding" jsonschema:"utf8 or base64"`
	Offset   int64  `json:"offset"`
	Bytes    int    `json:"bytes" jsonschema:"number of bytes read"`
	// Truncated means more bytes follow; read on from next_offset.
	Truncated  bool  `json:"truncated" jsonschema:"more bytes follow: call again with offset=next_offset"`
	NextOffset int64 `json:"next_offset"`
}

// FileWriteInput is the input of file_write: the engine's request, the
// sandbox and the content as text or base64. Mkdir shadows the request's
// field because file_write has always created parents unless told not to.
type FileWriteInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of a running sandbox"`
	sandbox.WriteFileRequest
	Content  string `json:"content" jsonschema:"the new content: UTF-8 text, or base64 when encoding is base64"`
	Encoding string `json:"encoding,omitempty" jsonschema:"utf8 (default) or base64 (for binary content)"`
	Mkdir    *bool  `json:"mkdir,omitempty" jsonschema:"create missing parent directories; default true"`
}

// FileListInput is the input of file_list: the engine's request and the
// sandbox.
type FileListInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of a running sandbox"`
	sandbox.ListFilesRequest
}

// FileRemoveInput is the input of file_remove: the engine's request and
// the sandbox.
type FileRemoveInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of a running sandbox"`
	sandbox.RemoveFileRequest
}

// RemoveOutput is the output of file_remove.
type RemoveOutput struct {
	Removed string `json:"removed"`
}

func checkEncoding(enc string) error {
	switch enc {
	case "", "utf8", "utf-8", "base64":
		return nil
	}
	return errdefs.Invalid("encoding %q: use utf8 or base64", enc)
}

func (s *Server) addFileTools() {
	addTool(s, &sdk.Tool{Name: "file_read", Title: "Read a file",
		Description: "Read a file in a sandbox as UTF-8 text (or base64 with encoding=base64). Reads at most 4 MiB per call; " +
			"truncated and next_offset say how to read on.", Annotations: readOnly},
		s.fileRead)
	addTool(s, &sdk.Tool{Name: "file_write", Title: "Write a file",
		Description: "Write a file in a sandbox atomically, creating parent directories. content is UTF-8 text, or base64 with encoding=base64.",
		Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)}},
		s.fileWrite)
	addTool(s, &sdk.Tool{Name: "file_list", Title: "List a directory",
		Description: "List a directory in a sandbox (optionally recursively): names, sizes, modes, times.", Annotations: readOnly},
		func(ctx context.Context, _ *sdk.CallToolRequest, in FileListInput) (*sdk.CallToolResult, *client.FileList, error) {
			g, err := s.eng.Guest(ctx, in.SandboxID)
			if err != nil {
				return nil, nil, toolError(err)
			}
			l, err := g.ListFiles(ctx, in.ListFilesRequest)
			return nil, l, toolError(err)
		})
	addTool(s, &sdk.Tool{Name: "file_remove", Title: "Remove a file",
		Description: "Remove a file or empty directory in a sandbox; recursive removes a directory tree.", Annotations: destructive},
		func(ctx context.Context, _ *sdk.CallToolRequest, in FileRemoveInput) (*sdk.CallToolResult, *RemoveOutput, error) {
			g, err := s.eng.Guest(ctx, in.SandboxID)
			if err != nil {
				return nil, nil, toolError(err)
			}
			if err := g.RemoveFile(ctx, in.RemoveFileRequest); err != nil {
				return nil, nil, toolError(err)
			}
			return nil, &RemoveOutput{Removed: in.Path}, nil
		})
}

func (s *Server) fileRead(ctx context.Context, _ *sdk.CallToolRequest, in FileReadInput) (*sdk.CallToolResult, *FileReadOutput, error) {
	if err := checkEncoding(in.Encoding); err != nil {
		return nil, nil, toolError(err)
	}
	g, err := s.eng.Guest(ctx, in.SandboxID)
	if err != nil {
		return nil, nil, toolError(err)
	}
	req := in.ReadFileRequest
	if err := req.Validate(); err != nil {
		return nil, nil, toolError(err)
	}
	// A tool answer is bounded: read at most maxFileRead, and one byte
	// more, to know whether more follows.
	n := in.Length
	if n == 0 || n > maxFileRead {
		n = maxFileRead
	}
	req.Length = n + 1
	rc, err := g.ReadFile(ctx, req)
	if err != nil {
		return nil, nil, toolError(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, nil, toolError(err)
	}
	more := int64(len(data)) > n
	if more {
		data = data[:n]
	}
	out := &FileReadOutput{Path: in.Path, Offset: in.Offset, Encoding: "utf8"}
	if in.Encoding == "base64" {
		out.Encoding = "base64"
		out.Content = base64.StdEncoding.EncodeToString(data)
	} else {
		if more {
			// Do not split a UTF-8 sequence at the end of a range.
			for k := 0; k < utf8.UTFMax && len(data) > 0 && !utf8.Valid(data); k++ {
				data = data[:len(data)-1]
			}
		}
		if !utf8.Valid(data) {
			return nil, nil, toolError(errdefs.Invalid("file %s is not UTF-8 text: read it with encoding=base64", in.Path))
		}
		out.Content = string(data)
	}
	out.Bytes = len(data)
	out.NextOffset = in.Offset + int64(len(data))
	out.Truncated = more
	text := out.Content
	if out.Truncated {
		text += "\n[truncated: more bytes follow; call file_read again with offset=" + strconv.FormatInt(out.NextOffset, 10) + "]"
	}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}, out, nil
}

func (s *Server) fileWrite(ctx context.Context, _ *sdk.CallToolRequest, in FileWriteInput) (*sdk.CallToolResult, *client.FileInfo, error) {
	if err := checkEncoding(in.Encoding); err != nil {
		return nil, nil, toolError(err)
	}
	data := []byte(in.Content)
	if in.Encoding == "base64" {
		var err error
		if data, err = base64.StdEncoding.DecodeString(in.Content); err != nil {
			return nil, nil, toolError(errdefs.Invalid("content: not valid base64 (%v); send text with encoding utf8 instead", err))
		}
	}
	g, err := s.eng.Guest(ctx, in.SandboxID)
	if err != nil {
		return nil, nil, toolError(err)
	}
	req := in.WriteFileRequest
	req.Mkdir, req.Content = in.Mkdir == nil || *in.Mkdir, data
	fi, err := g.WriteFile(ctx, req, nil)
	if err != nil {
		return nil, nil, toolError(err)
	}
	return nil, fi, nil
}
