package sandbox

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/store"
)

// Templates are keyed by the image's digest: a new digest under the same
// tag gets a new template, and a sandbox without an image keeps its key.
func TestTemplateKeyImage(t *testing.T) {
	m := &Manager{cfg: Config{Driver: withUserNet}}
	rt := Runtime{Name: DefaultRuntime, ImageDigest: "guest1"}
	base := Spec{Runtime: DefaultRuntime, VCPUs: 1, MemoryMiB: 256, Network: NetworkUser}
	withImage := func(digest string) Spec {
		s := base
		s.Image = "python:3.12-slim"
		s.image = &ImageRootFS{Ref: s.Image, Digest: digest, Path: "/images/" + digest + ".ext4"}
		return s
	}
	none := m.templateKey(base, rt)
	a, a2, b := m.templateKey(withImage("sha256:aa"), rt), m.templateKey(withImage("sha256:aa"), rt), m.templateKey(withImage("sha256:bb"), rt)
	if want := "default/guest1/1c/256m/net=user/a@a-1.0"; none != want {
		t.Errorf("key without an image = %q, want %q", none, want)
	}
	if a != none+"/img=sha256:aa" || a != a2 {
		t.Errorf("key with image sha256:aa = %q (again %q), want %q", a, a2, none+"/img=sha256:aa")
	}
	if a == b {
		t.Errorf("two digests of one tag share the key %q", a)
	}
}

func TestSpecValidateImage(t *testing.T) {
	for ref, ok := range map[string]bool{
		"":                 true,
		"python:3.12-slim": true,
		"localhost:5000/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": true,
		"python 3": false,
		"bad\nref": false,
	} {
		err := Spec{Image: ref}.Validate(Limits{})
		if (err == nil) != ok || (err != nil && !errors.Is(err, errdefs.ErrInvalidArgument)) {
			t.Errorf("Validate(image %q) = %v, want ok %v", ref, err, ok)
		}
	}
}

// A sandbox's record keeps its image, so a start after a stop boots the
// same root file system without the image store.
func TestRecordImage(t *testing.T) {
	img := &ImageRootFS{Ref: "python:3.12-slim", Digest: "sha256:aa", Path: "/images/aa.ext4", Env: []string{"A=1"}, WorkingDir: "/w", User: "app"}
	var rec store.Sandbox
	setSpec(&rec, recordSpec{Spec: Spec{Image: img.Ref}})
	recordImage(&rec, Spec{Image: img.Ref, image: img})
	if rec.ImageRef != img.Ref || rec.ImageDigest != img.Digest {
		t.Errorf("record image %q %q, want %q %q", rec.ImageRef, rec.ImageDigest, img.Ref, img.Digest)
	}
	if diff := cmp.Diff(img, imageOfRecord(rec)); diff != "" {
		t.Errorf("image of the record (-want +got):\n%s", diff)
	}
	if got := specOf(rec).Spec.Image; got != img.Ref {
		t.Errorf("recorded spec image %q, want %q", got, img.Ref)
	}
	if fromRecord(rec).ImageDigest != img.Digest {
		t.Errorf("sandbox image digest %q, want %q", fromRecord(rec).ImageDigest, img.Digest)
	}
}
