package rest

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// Images is the image resource the API serves; *sandbox.ImageService
// implements it.
type Images interface {
	Pull(ctx context.Context, req sandbox.ImagePullRequest, progress func(sandbox.ImageProgress)) (*sandbox.Image, error)
	Upload(ctx context.Context, name string, r io.Reader, progress func(sandbox.ImageProgress)) (*sandbox.Image, error)
	List(ctx context.Context) ([]*sandbox.Image, error)
	Get(ctx context.Context, refOrDigest string) (*sandbox.Image, error)
	Delete(ctx context.Context, refOrDigest string) error
}

var _ Images = (*sandbox.ImageService)(nil)

// maxImageRequestBytes bounds the JSON body of POST /v1/images.
const maxImageRequestBytes = 64 << 10

var errNoImages = errdefs.Unavailable("images are not enabled on this daemon")

type imageRefInput struct {
	Ref string `path:"ref" minLength:"1" maxLength:"512" doc:"An image name or reference (URL-escape its slashes as %2F), a digest (sha256:...) or a digest prefix of at least 12 hex digits."`
}

type imageOutput struct {
	Body *sandbox.Image
}

type imagesOutput struct {
	Body struct {
		Items []*sandbox.Image `json:"items"`
	}
}

func (s *server) imageRoutes() {
	s.mux.HandleFunc("POST /v1/images", s.postImage)
	body := binaryBody("A pull or import request as JSON, or a docker save / OCI archive tarball to import.", "application/x-tar")
	body.Content["application/json"] = &huma.MediaType{Schema: s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[sandbox.ImagePullRequest](), true, "")}
	s.document(op(http.MethodPost, "/v1/images", "pull-image", "images",
		"Pull or import an image",
		"With a JSON body, `{\"ref\": \"python:3.12-slim\"}` pulls a registry reference (a tag or @sha256: digest; an index resolves to linux/amd64) "+
			"and `{\"path\": \"/srv/images/app.tar\"}` imports an OCI layout directory or a docker save / OCI archive tarball "+
			"from a directory the operator allows (image_import_dirs). With an application/x-tar body, the tarball itself is imported "+
			"(?name= names it). Every blob is checked against its digest, kept once, and the image converted to the ext4 sandboxes use; "+
			"the answer comes when it is ready. Progress is published as image.progress events (GET /v1/events?type=image.*). "+
			"A pull that requires a signature (public_key, or the operator's keys) and finds none by a trusted key answers 400 and keeps nothing.",
		http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable),
		body, jsonResponse[sandbox.Image](s, http.StatusCreated, "The image, ready for sandboxes."),
		queryParam("name", "string", "With a tarball body: the name to record the image under."))

	huma.Register(s.api, op(http.MethodGet, "/v1/images", "list-images", "images",
		"List images", "Every image in the store, newest first: digest, names, size, layers and config.",
		http.StatusServiceUnavailable),
		func(ctx context.Context, _ *struct{}) (*imagesOutput, error) {
			if s.images == nil {
				return nil, s.fail(ctx, "list images", errNoImages)
			}
			list, err := s.images.List(ctx)
			if err != nil {
				return nil, s.fail(ctx, "list images", err)
			}
			out := &imagesOutput{}
			out.Body.Items = list
			if out.Body.Items == nil {
				out.Body.Items = []*sandbox.Image{}
			}
			return out, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/v1/images/{ref}", "get-image", "images",
		"Get an image", "By name, reference, digest or digest prefix: digest, size, layers and config (Env, WorkingDir, User, Entrypoint, Cmd).",
		http.StatusNotFound, http.StatusServiceUnavailable),
		func(ctx context.Context, in *imageRefInput) (*imageOutput, error) {
			if s.images == nil {
				return nil, s.fail(ctx, "get image", errNoImages)
			}
			img, err := s.images.Get(ctx, in.Ref)
			if err != nil {
				return nil, s.fail(ctx, "get image", err)
			}
			return &imageOutput{Body: img}, nil
		})

	del := op(http.MethodDelete, "/v1/images/{ref}", "delete-image", "images",
		"Delete an image",
		"Removes the image, its ext4 and every blob no other image shares. While a sandbox or template uses it, answers 409: delete those first.",
		http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable)
	del.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, del, func(ctx context.Context, in *imageRefInput) (*struct{}, error) {
		if s.images == nil {
			return nil, s.fail(ctx, "delete image", errNoImages)
		}
		if err := s.images.Delete(ctx, in.Ref); err != nil {
			return nil, s.fail(ctx, "delete image", err)
		}
		return nil, nil
	})
}

// postImage pulls or imports (JSON body) or imports an uploaded tarball.
func (s *server) postImage(w http.ResponseWriter, r *http.Request) {
	if s.images == nil {
		s.writeError(w, r, "pull image", errNoImages)
		return
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var img *sandbox.Image
	var err error
	switch ctype {
	case "application/json", "":
		var req sandbox.ImagePullRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxImageRequestBytes))
		dec.DisallowUnknownFields()
		if derr := dec.Decode(&req); derr != nil {
			s.writeError(w, r, "pull image", errdefs.Invalid("the body is not a pull request: send {\"ref\": \"...\"} or {\"path\": \"...\"} (%v)", derr))
			return
		}
		img, err = s.images.Pull(r.Context(), req, nil)
	case "application/x-tar", "application/octet-stream":
		img, err = s.images.Upload(r.Context(), r.URL.Query().Get("name"), r.Body, nil)
	default:
		err = errdefs.Invalid("content type %q: send JSON ({\"ref\": ...} or {\"path\": ...}) or a tarball as application/x-tar", ctype)
	}
	if err != nil {
		s.writeError(w, r, "pull image", err)
		return
	}
	writeJSONResponse(w, http.StatusCreated, img)
}
