package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/internal/benchfig"
	"github.com/volant-sh/volant/internal/testguest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// storeImages gives the engine the images of an OCI store, as the daemon
// does.
type storeImages struct{ s *oci.Store }

func (a storeImages) RootFS(ctx context.Context, ref string) (sandbox.ImageRootFS, error) {
	r, err := a.s.RootFS(ctx, ref)
	if err != nil {
		return sandbox.ImageRootFS{}, err
	}
	return sandbox.ImageRootFS{Ref: r.Ref, Digest: r.Digest, Path: r.Path, Env: r.Env, WorkingDir: r.WorkingDir, User: r.User}, nil
}

// debianStore opens the test cache's image store and skips unless it
// holds the debian image (volantd image build, or the daemon's debian
// test, builds it).
func debianStore(b *testing.B) storeImages {
	st, err := oci.Open(oci.Config{Dir: filepath.Join(testguest.CacheDir(), "images")})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Get(context.Background(), "debian"); errors.Is(err, errdefs.ErrNotFound) {
		b.Skip("the debian image is not built in the test cache: go test -run TestDebianImageSandbox ./daemon builds it")
	} else if err != nil {
		b.Fatal(err)
	}
	return storeImages{st}
}

// BenchmarkDebianImage measures sandboxes of the built-in debian image:
// create → first exec cold, from the image's template and from the warm
// pool (and their ratios), a `python3 -c pass` round trip, and the extra
// disk and the PSS of an idle sandbox.
func BenchmarkDebianImage(b *testing.B) {
	images := debianStore(b)
	env := sandboxtest.New(b, func(c *sandbox.Config) { c.Images, c.Templates, c.WarmPool = images, true, 1 })
	m := env.Manager
	ctx := context.Background()
	spec := sandbox.Spec{Image: "debian", MemoryMiB: 512}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	tpl, err := m.WaitWarm(wctx, spec)
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	var cold, restore, pooled, python []time.Duration
	var disk, pss []float64
	for b.Loop() {
		s := spec
		s.ColdBoot = true
		d, sb := createToFirstExec(b, m, s)
		cold = append(cold, d)
		_ = m.Delete(ctx, sb.ID)

		s = spec
		s.FromSnapshot = tpl
		d, sb = createToFirstExec(b, m, s)
		restore = append(restore, d)
		_ = m.Delete(ctx, sb.ID)

		d, sb = createToFirstExec(b, m, spec)
		if sb.Boot != "restore" {
			b.Fatalf("create of the debian image booted %q, want restore", sb.Boot)
		}
		pooled = append(pooled, d)
		for range 3 {
			start := time.Now()
			res, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"python3", "-c", "pass"}}, nil)
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("python3 -c pass: %v %+v", err, res)
			}
			python = append(python, time.Since(start))
		}
		// Idle: no command runs in it now.
		k, p := footprint(b, env, sb.ID)
		disk, pss = append(disk, k/1024), append(pss, p/1024)
		_ = m.Delete(ctx, sb.ID)
	}
	c := benchfig.Durations(b, "debian-create-first-exec-cold", cold)
	r := benchfig.Durations(b, "debian-create-first-exec-template", restore)
	p := benchfig.Durations(b, "debian-create-first-exec-warm", pooled)
	benchfig.Ratio(b, "debian-cold/template", c, r)
	benchfig.Ratio(b, "debian-cold/warm", c, p)
	benchfig.Durations(b, "debian-python3-pass", python)
	benchfig.Report(b, "debian-extra-disk", "MiB", disk)
	benchfig.Report(b, "debian-idle-pss", "MiB", pss)
}

// footprint is a sandbox's extra disk (its disks and VM directory) and
// the PSS of its VMM, in KiB.
func footprint(b *testing.B, env *sandboxtest.Env, id string) (diskKiB, pssKiB float64) {
	sb, err := env.Manager.Get(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	rec, err := env.Store.GetSandbox(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []string{filepath.Join(env.StateDir, "disks", id), rec.VMDir} {
		out, err := exec.Command("du", "-sk", d).Output()
		if err != nil {
			continue
		}
		var k float64
		fmt.Sscan(string(out), &k)
		diskKiB += k
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", sb.PID))
	if err != nil {
		return diskKiB, 0
	}
	for l := range strings.Lines(string(raw)) {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Pss:" {
			fmt.Sscan(f[1], &pssKiB)
		}
	}
	return diskKiB, pssKiB
}
