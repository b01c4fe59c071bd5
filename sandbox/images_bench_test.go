package sandbox_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// BenchmarkImageCreateToFirstExec is BenchmarkCreateToFirstExec for a
// sandbox of an image (the busybox test image): a cold boot, a restore
// from the image's template, and a create served by the warm pool. It
// also logs the extra disk and the PSS of an idle sandbox of each kind.
func BenchmarkImageCreateToFirstExec(b *testing.B) {
	imgPath, digest := buildTestImage(b)
	images := &testImages{imgs: map[string]sandbox.ImageRootFS{"t": {
		Ref: "volant.test/busybox:1", Digest: digest, Path: imgPath, Env: []string{"PATH=/bin"},
	}}}
	env := sandboxtest.New(b, func(c *sandbox.Config) { c.Images, c.Templates, c.WarmPool = images, true, 2 })
	m := env.Manager
	ctx := context.Background()
	spec := sandbox.Spec{Image: "volant.test/busybox:1"}
	first, sb := createToFirstExec(b, m, spec)
	b.Logf("first create of the image (cold, makes the template): %s", first.Round(time.Millisecond))
	_ = m.Delete(ctx, sb.ID)
	tpl := imageTemplate(b, m, digest)
	time.Sleep(5 * time.Second) // let the pool fill
	var cold, restore, pooled []time.Duration
	for b.Loop() {
		s := spec
		s.ColdBoot = true
		d, sb := createToFirstExec(b, m, s)
		cold = append(cold, d)
		logFootprint(b, env, sb)
		_ = m.Delete(ctx, sb.ID)
		s = spec
		s.FromSnapshot = tpl
		d, sb = createToFirstExec(b, m, s)
		restore = append(restore, d)
		logFootprint(b, env, sb)
		_ = m.Delete(ctx, sb.ID)
		d, sb = createToFirstExec(b, m, spec)
		if sb.Boot != "restore" {
			b.Fatalf("create of the image booted %q, want restore", sb.Boot)
		}
		pooled = append(pooled, d)
		logFootprint(b, env, sb)
		_ = m.Delete(ctx, sb.ID)
	}
	reportMedian(b, cold, "cold-ms")
	reportMedian(b, restore, "restore-ms")
	reportMedian(b, pooled, "pooled-ms")
}

// imageTemplate waits for the image's template and returns its id.
func imageTemplate(tb testing.TB, m *sandbox.Manager, digest string) string {
	tb.Helper()
	for range 6000 {
		snaps, err := m.ListSnapshots(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, s := range snaps {
			if s.Template && s.ImageDigest == digest {
				return s.ID
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("no template of the image was made")
	return ""
}

// logFootprint logs a sandbox's extra disk and, once idle, its PSS.
func logFootprint(b *testing.B, env *sandboxtest.Env, sb *sandbox.Sandbox) {
	sb, _ = env.Manager.Get(context.Background(), sb.ID)
	rec, err := env.Store.GetSandbox(context.Background(), sb.ID)
	if err != nil {
		b.Fatal(err)
	}
	// A guest from the warm pool keeps the directory it was restored into.
	b.Logf("figure: %s (boot %s): extra disk %s, PSS %s", sb.ID, sb.Boot,
		duOf(filepath.Join(env.StateDir, "disks", sb.ID), rec.VMDir), pssOf(sb.PID))
}
