package rest_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/image/oci/ocitest"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

type recordingPublisher struct{ types []string }

func (p *recordingPublisher) Publish(_ context.Context, e events.Event) (events.Event, error) {
	p.types = append(p.types, e.Type)
	return e, nil
}

// TestImages runs the image routes over a real store and a registry
// served in the test.
func TestImages(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("image conversion needs root")
	}
	reg := ocitest.NewRegistry(t)
	img := ocitest.Image(t, v1.Config{Env: []string{"A=1"}, Cmd: []string{"sh"}}, ocitest.Layers()...)
	ref := reg.Ref("test/app:v1")
	reg.Push(t, ref, img)
	users := 0
	st, err := oci.Open(oci.Config{Dir: t.TempDir(), InUse: func(string) (int, error) { return users, nil }})
	if err != nil {
		t.Fatal(err)
	}
	pub := &recordingPublisher{}
	e := newEnv(t, func(o *rest.Options) { o.Images = sandbox.NewImageService(st, pub, nil) })

	var got sandbox.Image
	want(t, e.do("POST", "/v1/images", map[string]string{"ref": ref}), http.StatusCreated, &got)
	d, _ := img.Digest()
	if got.Digest != d.String() || got.Config.Env[0] != "A=1" || len(got.Layers) != 2 {
		t.Errorf("pulled %+v", got)
	}
	if len(pub.types) == 0 || pub.types[len(pub.types)-1] != sandbox.EventImageStored || pub.types[0] != sandbox.EventImageProgress {
		t.Errorf("events %v: want image.progress ... image.stored", pub.types)
	}
	var list struct{ Items []sandbox.Image }
	want(t, e.do("GET", "/v1/images", nil), 200, &list)
	if len(list.Items) != 1 {
		t.Errorf("list %+v", list)
	}
	var byRef, byDigest sandbox.Image
	want(t, e.do("GET", "/v1/images/"+url.PathEscape(ref), nil), 200, &byRef)
	want(t, e.do("GET", "/v1/images/"+got.Digest, nil), 200, &byDigest)
	if byRef.Digest != got.Digest || byDigest.Digest != got.Digest {
		t.Errorf("get by ref %s, by digest %s; want %s", byRef.Digest, byDigest.Digest, got.Digest)
	}

	// Upload a docker save tarball.
	tag, _ := name.NewTag("example.com/up:v1")
	saved := filepath.Join(t.TempDir(), "up.tar")
	if err := tarball.WriteToFile(saved, tag, img); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(saved)
	req := e.do("POST", "/v1/images?name=uploaded", bytes.NewReader(b))
	var up sandbox.Image
	want(t, req, http.StatusCreated, &up)
	if up.Digest != got.Digest || len(up.Names) != 2 {
		t.Errorf("uploaded %s %v: want the same digest, two names", up.Digest, up.Names)
	}

	wantProblem(t, e.do("POST", "/v1/images", map[string]string{}), 400, "say which image")
	wantProblem(t, e.do("POST", "/v1/images", map[string]string{"path": "/nope"}), 400, "image_import_dirs")
	wantProblem(t, e.do("POST", "/v1/images", map[string]string{"ref": reg.Ref("test/none:v1")}), 404, "not in its registry")
	users = 1
	wantProblem(t, e.do("DELETE", "/v1/images/uploaded", nil), 409, "used by 1")
	users = 0
	want(t, e.do("DELETE", "/v1/images/uploaded", nil), http.StatusNoContent, nil)
	wantProblem(t, e.do("GET", "/v1/images/"+got.Digest, nil), 404, "pull or import it first")
}

func TestImagesNotEnabled(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.do("GET", "/v1/images", nil), 503, "not enabled")
	wantProblem(t, e.do("POST", "/v1/images", map[string]string{"ref": "x"}), 503, "not enabled")
}
