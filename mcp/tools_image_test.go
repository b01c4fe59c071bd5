package mcp

import (
	"context"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/sandbox"
)

type fakeImages struct{ imgs []*sandbox.Image }

func (f *fakeImages) Pull(_ context.Context, req sandbox.ImagePullRequest, progress func(sandbox.ImageProgress)) (*sandbox.Image, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if req.Ref != "app:v1" {
		return nil, errdefs.NotFound("image %s is not in its registry", req.Ref)
	}
	return f.imgs[0], nil
}

func (f *fakeImages) Upload(context.Context, string, io.Reader, func(sandbox.ImageProgress)) (*sandbox.Image, error) {
	return nil, errdefs.Unavailable("no")
}
func (f *fakeImages) List(context.Context) ([]*sandbox.Image, error) { return f.imgs, nil }
func (f *fakeImages) Get(context.Context, string) (*sandbox.Image, error) {
	return f.imgs[0], nil
}
func (f *fakeImages) Delete(context.Context, string) error { return nil }

func TestImageTools(t *testing.T) {
	img := &sandbox.Image{Digest: "sha256:abc", Names: []string{"app:v1"}, Size: 42,
		Layers: []oci.Layer{{Digest: "sha256:l1"}}, Config: oci.ImageConfig{Env: []string{"A=1"}, Cmd: []string{"sh"}}}
	_, cs := connectOpts(t, Options{Manager: newFakeEngine(t), Images: &fakeImages{imgs: []*sandbox.Image{img}}}, nil)
	got := ok[ImageListOutput](t, cs, "image_list", nil)
	want := ImageListOutput{Images: []ImageInfo{{Digest: "sha256:abc", Names: []string{"app:v1"}, SizeBytes: 42, Layers: 1,
		Env: []string{"A=1"}, Cmd: []string{"sh"}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image_list (-want +got):\n%s", diff)
	}
	pulled := ok[ImageInfo](t, cs, "image_pull", map[string]any{"ref": "app:v1"})
	if pulled.Digest != "sha256:abc" {
		t.Errorf("image_pull: %+v", pulled)
	}
}

func TestImageListWithoutImages(t *testing.T) {
	_, cs := connectOpts(t, Options{Manager: newFakeEngine(t)}, nil)
	got := ok[ImageListOutput](t, cs, "image_list", nil)
	if len(got.Images) != 0 || got.Note == "" {
		t.Errorf("image_list without images: %+v", got)
	}
}
