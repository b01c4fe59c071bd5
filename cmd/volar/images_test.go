package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	bus, err := events.New(context.Background(), &memLog{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	srv, tok := newRealAPI(t, func(o *rest.Options) {
		o.Images = sandbox.NewImageService(st, bus, nil)
		o.Events = bus
	})
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
	// Piped, progress is plain lines on stderr, ending with done.
	if !strings.Contains(errs, ref+": fetching [") || !strings.HasSuffix(errs, ref+": done\n") {
		t.Errorf("pull progress on stderr: %q", errs)
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

// memLog is an in-memory events.Log.
type memLog struct {
	mu  sync.Mutex
	evs []events.Event
}

func (l *memLog) AppendEvent(_ context.Context, e events.Event) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = int64(len(l.evs) + 1)
	l.evs = append(l.evs, e)
	return e.Seq, nil
}

func (l *memLog) EventsSince(_ context.Context, after int64, limit int) ([]events.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []events.Event
	for _, e := range l.evs {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *memLog) LastEventSeq(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.evs)), nil
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

func (l *memLog) TrimEvents(context.Context, int) (int64, error) { return 0, nil }
