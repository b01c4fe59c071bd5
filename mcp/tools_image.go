package mcp

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// Images is the image resource the tools serve; *sandbox.ImageService
// implements it.
type Images interface {
	Pull(ctx context.Context, req sandbox.ImagePullRequest, progress func(sandbox.ImageProgress)) (*sandbox.Image, error)
	Upload(ctx context.Context, name string, r io.Reader, progress func(sandbox.ImageProgress)) (*sandbox.Image, error)
	List(ctx context.Context) ([]*sandbox.Image, error)
	Get(ctx context.Context, refOrDigest string) (*sandbox.Image, error)
	Delete(ctx context.Context, refOrDigest string) error
}

var _ Images = (*sandbox.ImageService)(nil)

// ImageListOutput is the output of image_list.
type ImageListOutput struct {
	Images []ImageInfo `json:"images"`
	Note   string      `json:"note,omitempty"`
}

// ImageInfo describes one image.
type ImageInfo struct {
	Digest     string   `json:"digest" jsonschema:"the image's manifest digest"`
	Names      []string `json:"names" jsonschema:"names and references of the image: pass one as image to sandbox_create"`
	SizeBytes  int64    `json:"size_bytes" jsonschema:"compressed size of its layers"`
	Layers     int      `json:"layers"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
}

// ImagePullInput is the input of image_pull.
type ImagePullInput struct {
	Ref string `json:"ref" jsonschema:"a registry reference: python:3.12-slim, ghcr.io/owner/app:tag or name@sha256:<digest>"`
}

var errImagesOff = errdefs.Unavailable("images are not enabled on this server")

const imageNote = "images are not available on this server: sandboxes run the built-in default runtime"

func imageInfo(img *sandbox.Image) ImageInfo {
	names := img.Names
	if names == nil {
		names = []string{}
	}
	return ImageInfo{Digest: img.Digest, Names: names, SizeBytes: img.Size, Layers: len(img.Layers),
		Env: img.Config.Env, WorkingDir: img.Config.WorkingDir, User: img.Config.User,
		Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd}
}

func (s *Server) addImageTools() {
	addTool(s, &sdk.Tool{Name: "image_list", Title: "List images",
		Description: "List the OCI images sandboxes can be created from (sandbox_create image): names, digest, size and config.",
		Annotations: readOnly},
		func(ctx context.Context, _ *sdk.CallToolRequest, _ Empty) (*sdk.CallToolResult, *ImageListOutput, error) {
			if s.images == nil {
				return nil, &ImageListOutput{Images: []ImageInfo{}, Note: imageNote}, nil
			}
			list, err := s.images.List(ctx)
			if err != nil {
				return nil, nil, toolError(err)
			}
			out := &ImageListOutput{Images: []ImageInfo{}}
			for _, img := range list {
				out.Images = append(out.Images, imageInfo(img))
			}
			return nil, out, nil
		})

	addTool(s, &sdk.Tool{Name: "image_pull", Title: "Pull an image",
		Description: "Pull an OCI image from a registry and prepare it for sandboxes (it can take minutes; progress is notified). " +
			"sandbox_create with image pulls on its own; use this to pull ahead of time.",
		Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(true)}},
		func(ctx context.Context, req *sdk.CallToolRequest, in ImagePullInput) (*sdk.CallToolResult, *ImageInfo, error) {
			if s.images == nil {
				return nil, nil, toolError(errImagesOff)
			}
			var progress func(sandbox.ImageProgress)
			if tok := req.Params.GetProgressToken(); tok != nil && req.Session != nil {
				var mu sync.Mutex
				var last time.Time
				progress = func(p sandbox.ImageProgress) {
					mu.Lock()
					defer mu.Unlock()
					if time.Since(last) < time.Second {
						return
					}
					last = time.Now()
					_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: tok,
						Progress: float64(p.Done), Total: float64(p.Total), Message: p.Phase})
				}
			}
			img, err := s.images.Pull(ctx, sandbox.ImagePullRequest{Ref: in.Ref}, progress)
			if err != nil {
				return nil, nil, toolError(err)
			}
			info := imageInfo(img)
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{
				Text: fmt.Sprintf("pulled %s (%s, %d layers)", in.Ref, img.Digest, len(img.Layers))}}}, &info, nil
		})
}
