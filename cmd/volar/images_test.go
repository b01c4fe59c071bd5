package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/image/oci/ocitest"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

// TestImageCommands runs volar image against the real REST handler over
// a real image store and a registry served in the test.
func TestImageCommands(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("image conversion needs root")
	}
	reg := ocitest.NewRegistry(t)
	img := ocitest.Image(t, v1.Config{Env: []string{"A=1"}, Cmd: []string{"/bin/hello"}}, ocitest.Layers()...)
	ref := reg.Ref("test/app:v1")
	reg.Push(t, ref, img)
	st, err := oci.Open(oci.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv, tok := newRealAPI(t, func(o *rest.Options) { o.Images = sandbox.NewImageService(st, nil, nil) })
	v := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"--addr", srv.URL, "--token", tok}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	d, _ := img.Digest()

	code, out, errs := v("image", "pull", ref)
	if code != 0 || !strings.Contains(out, d.String()) || !strings.Contains(out, "A=1") || !strings.Contains(out, "/bin/hello") {
		t.Fatalf("pull: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, _ := v("-q", "image", "ls"); code != 0 || out != d.String()+"\n" {
		t.Errorf("ls -q: exit %d, %q", code, out)
	}
	if code, out, _ := v("image", "ls"); code != 0 || !strings.Contains(out, ref) || !strings.Contains(out, d.Hex[:12]) {
		t.Errorf("ls: exit %d, %q", code, out)
	}
	if code, out, errs := v("image", "get", ref); code != 0 || !strings.Contains(out, "layers:") {
		t.Errorf("get: exit %d, %q %q", code, out, errs)
	}

	tag, _ := name.NewTag("example.com/saved:v2")
	saved := filepath.Join(t.TempDir(), "saved.tar")
	if err := tarball.WriteToFile(saved, tag, img); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := v("image", "import", "--name", "mine:dev", saved); code != 0 || !strings.Contains(out, "mine:dev") {
		t.Errorf("import: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := v("image", "pull", reg.Ref("test/none:v1")); code != 1 || !strings.Contains(errs, "not in its registry") {
		t.Errorf("pull of a missing tag: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := v("image", "rm", "mine:dev"); code != 0 {
		t.Errorf("rm: exit %d, %q", code, errs)
	}
	if code, _, errs := v("image", "get", d.String()); code != 1 || !strings.Contains(errs, "pull or import it first") {
		t.Errorf("get after rm: exit %d, %q", code, errs)
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		p    imageProgress
		want string
	}{
		{imageProgress{Phase: "fetch", Ref: "r", Done: 1 << 20, Total: 4 << 20}, "r: fetching [#######.......................] 1.0 MiB / 4.0 MiB"},
		{imageProgress{Phase: "convert", Ref: "r", Done: 3 << 20}, "r: converting, 3.0 MiB of files written"},
		{imageProgress{Phase: "done", Ref: "r"}, "r: done"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.p); got != tt.want {
			t.Errorf("progressLine(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
