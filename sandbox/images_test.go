package sandbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// testImages is an image store of one image built by the test.
type testImages struct {
	mu   sync.Mutex
	imgs map[string]sandbox.ImageRootFS
}

func (t *testImages) RootFS(ctx context.Context, ref string) (sandbox.ImageRootFS, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, img := range t.imgs {
		if img.Ref == ref || img.Digest == ref {
			return img, nil
		}
	}
	return sandbox.ImageRootFS{}, errdefs.NotFound("image %q not found", ref)
}

// buildTestImage makes an ext4 root file system from a busybox tree: a
// marker /etc/os-release, a user app (uid 1000) and a working directory,
// and /etc/resolv.conf as a dangling symlink, as some images have.
func buildTestImage(t testing.TB) (path, digest string) {
	return buildImage(t, true)
}

// buildImage builds the test image; without a shell it holds busybox as
// /usr/bin/busybox only (no /bin/sh, no applet links).
func buildImage(t testing.TB, withShell bool) (path, digest string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox (static) is needed to build the test image: apt-get install busybox-static")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("mkfs.ext4 is needed to build the test image: apt-get install e2fsprogs")
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"bin", "etc", "root", "home/app", "srv/work", "proc", "sys", "dev", "tmp", "run"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if !withShell {
		_ = os.MkdirAll(filepath.Join(tree, "usr/bin"), 0o755)
		if err := os.WriteFile(filepath.Join(tree, "usr/bin/busybox"), b, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := os.WriteFile(filepath.Join(tree, "bin/busybox"), b, 0o755); err != nil {
			t.Fatal(err)
		}
		list, err := exec.Command(bb, "--list").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range strings.Fields(string(list)) {
			if name != "busybox" {
				_ = os.Symlink("busybox", filepath.Join(tree, "bin", name))
			}
		}
	}
	files := map[string]string{
		"etc/os-release": "ID=volanttest\nNAME=\"Volant test image\"\n",
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
		"etc/group":      "root:x:0:\napp:x:1000:\n",
		"srv/work/hello": "hello from the image\n",
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(tree, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(tree, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"home/app", "srv/work"} {
		if err := os.Chown(filepath.Join(tree, p), 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(tree, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "image.ext4")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", tree, "-L", "testimg", path, "64M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	return path, fileSHA256(t, path)
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func run(t *testing.T, m *sandbox.Manager, id string, req sandbox.ExecRequest) *sandbox.ExecResult {
	t.Helper()
	res, err := m.Exec(context.Background(), id, req, nil)
	if err != nil {
		t.Fatalf("exec %q in %s: %v", req.Cmd, id, err)
	}
	return res
}

// sh runs script as root (the image's default user is app).
func sh(t *testing.T, m *sandbox.Manager, id, script string) string {
	t.Helper()
	return shAs(t, m, id, "root", script)
}

// shAs runs script as user; "" means the image's default.
func shAs(t *testing.T, m *sandbox.Manager, id, user, script string) string {
	t.Helper()
	res := run(t, m, id, sandbox.ExecRequest{Cmd: []string{"sh", "-c", script}, User: user})
	if res.ExitCode != 0 {
		t.Fatalf("sh -c %q in %s: exit %d, stderr %q", script, id, res.ExitCode, res.Stderr)
	}
	return strings.TrimSpace(res.Stdout)
}

func TestImageSandboxes(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	imgPath, digest := buildTestImage(t)
	images := &testImages{imgs: map[string]sandbox.ImageRootFS{"t": {
		Ref: "volant.test/busybox:1", Digest: digest, Path: imgPath,
		Env: []string{"PATH=/bin", "IMG_MARK=from-image"}, WorkingDir: "/srv/work", User: "app",
	}}}
	env := sandboxtest.New(t, func(c *sandbox.Config) {
		c.Images = images
		c.Templates = true
	})
	m := env.Manager
	ctx := context.Background()
	spec := sandbox.Spec{Image: "volant.test/busybox:1"}

	start := time.Now()
	sb1, err := m.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	first := sh(t, m, sb1.ID, "cat /etc/os-release")
	coldFirstExec := time.Since(start)
	if !strings.Contains(first, "ID=volanttest") {
		t.Fatalf("/etc/os-release = %q, want the image's", first)
	}
	if sb1.ImageDigest != digest || sb1.Boot != "cold" {
		t.Errorf("sandbox image digest %q boot %q, want %q cold", sb1.ImageDigest, sb1.Boot, digest)
	}

	t.Run("image defaults", func(t *testing.T) {
		got := shAs(t, m, sb1.ID, "", `echo "$IMG_MARK $(pwd) $(id -u) $(id -un) $PATH"`)
		if want := "from-image /srv/work 1000 app /bin"; got != want {
			t.Errorf("defaults: got %q, want %q", got, want)
		}
		res := run(t, m, sb1.ID, sandbox.ExecRequest{
			Cmd: []string{"sh", "-c", `echo "$IMG_MARK $(pwd) $(id -u)"`},
			Env: map[string]string{"IMG_MARK": "mine"}, Cwd: "/root", User: "root",
		})
		if got, want := strings.TrimSpace(res.Stdout), "mine /root 0"; got != want {
			t.Errorf("a request's own env, cwd, user: got %q, want %q", got, want)
		}
	})

	t.Run("kernel file systems and identity", func(t *testing.T) {
		got := sh(t, m, sb1.ID, `test -r /proc/self/status && test -d /sys/class && test -c /dev/null && test -d /dev/pts && test -d /dev/shm && touch /tmp/x && echo ok`)
		if got != "ok" {
			t.Errorf("kernel file systems: %q", got)
		}
		// tsc=reliable keeps the TSC as the clocksource under a busy TCG.
		if got := sh(t, m, sb1.ID, "cat /sys/devices/system/clocksource/clocksource0/current_clocksource; cat /proc/cmdline"); !strings.Contains(got, "tsc=reliable") {
			t.Errorf("clocksource and kernel command line = %q, want tsc=reliable", got)
		} else {
			t.Logf("clocksource: %s", strings.SplitN(got, "\n", 2)[0])
		}
		if got := sh(t, m, sb1.ID, "hostname; cat /etc/hostname"); got != sb1.ID+"\n"+sb1.ID {
			t.Errorf("hostname and /etc/hostname = %q, want %s twice", got, sb1.ID)
		}
		if got := sh(t, m, sb1.ID, "cat /etc/hosts"); !strings.Contains(got, sb1.ID) || !strings.Contains(got, "localhost") {
			t.Errorf("/etc/hosts = %q, want localhost and %s", got, sb1.ID)
		}
		if got := sh(t, m, sb1.ID, "cat /etc/resolv.conf"); !strings.Contains(got, "nameserver 10.0.2.3") {
			t.Errorf("/etc/resolv.conf = %q, want the user-mode resolver", got)
		}
	})

	t.Run("pty", func(t *testing.T) {
		g, err := m.Guest(ctx, sb1.ID)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := g.PTY(ctx, sandbox.PTYRequest{ExecRequest: sandbox.ExecRequest{Cmd: []string{"sh", "-c", "tty; echo mark=$IMG_MARK; echo DONE; exit 3"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		var out bytes.Buffer
		buf := make([]byte, 4096)
		for !strings.Contains(out.String(), "DONE") {
			n, err := sess.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if s := out.String(); !strings.Contains(s, "/dev/pts/") || !strings.Contains(s, "mark=from-image") {
			t.Errorf("pty output %q, want a /dev/pts tty and the image's env", s)
		}
		ex, err := sess.Wait(ctx)
		if err != nil || ex.ExitCode != 3 {
			t.Errorf("pty exit %+v, %v; want 3", ex, err)
		}
	})

	t.Run("files api sees the root", func(t *testing.T) {
		g, err := m.Guest(ctx, sb1.ID)
		if err != nil {
			t.Fatal(err)
		}
		readAll := func(p string) ([]byte, error) {
			rc, err := g.ReadFile(ctx, sandbox.ReadFileRequest{Path: p})
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(rc)
		}
		b, err := readAll("/srv/work/hello")
		if err != nil || string(b) != "hello from the image\n" {
			t.Errorf("reading /srv/work/hello: %q, %v", b, err)
		}
		// A symlink out of the root ends at the root's own /.
		sh(t, m, sb1.ID, "ln -s ../../../../.. /tmp/up")
		b, err = readAll("/tmp/up/etc/os-release")
		if err != nil || !strings.Contains(string(b), "volanttest") {
			t.Errorf("reading through a symlink up and out: %q, %v; want the image's file", b, err)
		}
		// kestrel itself is /init in the initramfs, not in the root.
		if _, err := g.StatFile(ctx, sandbox.FileRequest{Path: "/init"}); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("stat /init = %v, want not found (the initramfs is not visible)", err)
		}
	})

	sh(t, m, sb1.ID, "echo one > /root/mark && sync")

	// The second create of the image restores from its template.
	tpl := imageTemplate(t, m, digest)
	start = time.Now()
	sb2, err := m.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	sh(t, m, sb2.ID, "true")
	templateFirstExec := time.Since(start)
	if sb2.Boot != "restore" {
		t.Errorf("second create of the image: boot %q, want restore", sb2.Boot)
	}

	t.Run("each sandbox sees only its own writes", func(t *testing.T) {
		if got := sh(t, m, sb2.ID, "cat /root/mark 2>/dev/null || echo none"); got != "none" {
			t.Errorf("sb2 sees /root/mark = %q, want none", got)
		}
		sh(t, m, sb2.ID, "echo two > /root/mark")
		if got := sh(t, m, sb1.ID, "cat /root/mark"); got != "one" {
			t.Errorf("sb1's /root/mark = %q, want one", got)
		}
		if got := sh(t, m, sb2.ID, "hostname; grep -c "+sb2.ID+" /etc/hosts"); got != sb2.ID+"\n1" {
			t.Errorf("restored sandbox's hostname and hosts = %q, want its own name %s", got, sb2.ID)
		}
		if got := shAs(t, m, sb2.ID, "", `echo "$IMG_MARK $(pwd) $(id -un)"`); got != "from-image /srv/work app" {
			t.Errorf("restored sandbox's defaults = %q", got)
		}
	})

	// Figures for the note: extra disk per sandbox and PSS of an idle one.
	for _, id := range []string{sb1.ID, sb2.ID} {
		sb, _ := m.Get(ctx, id)
		t.Logf("figure: sandbox %s (boot %s): extra disk %s, PSS %s", id, sb.Boot,
			duOf(filepath.Join(env.StateDir, "disks", id), filepath.Join(env.StateDir, "vms", id)), pssOf(sb.PID))
	}
	t.Logf("figure: create -> first exec of an image sandbox: cold %s, template restore %s",
		coldFirstExec.Round(time.Millisecond), templateFirstExec.Round(time.Millisecond))

	t.Run("fork", func(t *testing.T) {
		clones, err := m.Fork(ctx, sb1.ID, sandbox.ForkRequest{Count: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range clones {
			if got := sh(t, m, c.ID, "cat /root/mark"); got != "one" {
				t.Errorf("clone %s: /root/mark = %q, want one", c.ID, got)
			}
			if c.ImageDigest != digest {
				t.Errorf("clone %s image digest %q, want %q", c.ID, c.ImageDigest, digest)
			}
		}
		// The snapshot names the shared image by its path and holds no copy.
		snapDir := filepath.Join(env.StateDir, "snapshots", clones[0].FromSnapshot)
		b, err := os.ReadFile(filepath.Join(snapDir, "qemu.json"))
		if err != nil {
			t.Fatal(err)
		}
		var man struct {
			Config struct {
				Disks []struct {
					Path     string `json:"path"`
					ReadOnly bool   `json:"read_only"`
				} `json:"disks"`
			} `json:"config"`
		}
		if err := json.Unmarshal(b, &man); err != nil {
			t.Fatal(err)
		}
		shared := false
		for _, d := range man.Config.Disks {
			shared = shared || d.ReadOnly && d.Path == imgPath
		}
		if !shared {
			t.Errorf("snapshot disks %+v: want the image %s read-only, by its path", man.Config.Disks, imgPath)
		}
		imgInfo, _ := os.Stat(imgPath)
		ents, _ := os.ReadDir(snapDir)
		for _, e := range ents {
			if fi, err := os.Stat(filepath.Join(snapDir, e.Name())); err == nil && os.SameFile(fi, imgInfo) {
				t.Errorf("snapshot file %s is the shared image", e.Name())
			}
		}
		sh(t, m, clones[0].ID, "echo clone > /root/mark")
		if got := sh(t, m, clones[1].ID, "cat /root/mark"); got != "one" {
			t.Errorf("clone 1 sees clone 0's write: %q", got)
		}
	})

	t.Run("stop start keeps writes", func(t *testing.T) {
		for _, id := range []string{sb1.ID, sb2.ID} {
			want := sh(t, m, id, "cat /root/mark")
			if _, err := m.Stop(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Start(ctx, id); err != nil {
				t.Fatal(err)
			}
			if got := sh(t, m, id, "cat /root/mark; echo $IMG_MARK"); got != want+"\nfrom-image" {
				t.Errorf("%s after stop/start: %q, want %q and the image's env", id, got, want)
			}
		}
	})

	t.Run("in use", func(t *testing.T) {
		n, err := m.ImageInUse(ctx, digest)
		if err != nil || n < 4 {
			t.Errorf("ImageInUse = %d, %v; want at least 4 (sandboxes, the fork's snapshot, the template)", n, err)
		}
		// The template stays while a root disk descends from it (sb2 was
		// restored from it), and goes once nothing of the image is left.
		if err := m.ForgetImageTemplates(ctx, digest); err != nil {
			t.Fatal(err)
		}
		if after, err := m.ImageInUse(ctx, digest); err != nil || after != n {
			t.Errorf("ImageInUse after forgetting templates in use = %d, %v; want %d", after, err, n)
		}
		if err := m.DeleteSnapshot(ctx, tpl); !errors.Is(err, errdefs.ErrConflict) {
			t.Errorf("deleting the template under sb2: %v, want conflict", err)
		}
		sbs, err := m.List(ctx, sandbox.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, sb := range sbs.Items {
			if err := m.Delete(ctx, sb.ID); err != nil {
				t.Fatal(err)
			}
		}
		snaps, err := m.ListSnapshots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range snaps {
			if !s.Template {
				if err := m.DeleteSnapshot(ctx, s.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := m.ForgetImageTemplates(ctx, digest); err != nil {
			t.Fatal(err)
		}
		if after, err := m.ImageInUse(ctx, digest); err != nil || after != 0 {
			t.Errorf("ImageInUse once nothing of the image is left = %d, %v; want 0", after, err)
		}
	})

	if got := fileSHA256(t, imgPath); got != digest {
		t.Errorf("the shared image changed: sha256 %s, was %s", got, digest)
	}
}

// duOf is the disk space files under dirs take.
func duOf(dirs ...string) string {
	var n int64
	for _, d := range dirs {
		out, err := exec.Command("du", "-sk", d).Output()
		if err != nil {
			continue
		}
		var k int64
		fmt.Sscan(string(out), &k)
		n += k
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/1024)
}

// pssOf is a process's proportional set size.
func pssOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return "?"
	}
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Pss:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

// TestImageWithoutShell runs an image that has no shell, with a data
// disk: its own binary runs, and /data is mounted inside the root.
func TestImageWithoutShell(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests")
	}
	imgPath, digest := buildImage(t, false)
	images := &testImages{imgs: map[string]sandbox.ImageRootFS{"t": {
		Ref: "volant.test/noshell:1", Digest: digest, Path: imgPath, Env: []string{"PATH=/usr/bin"},
	}}}
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Images = images })
	m := env.Manager
	ctx := context.Background()
	sb, err := m.Create(ctx, sandbox.Spec{Image: "volant.test/noshell:1", DiskMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := m.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"sh", "-c", "true"}}, nil); err == nil && res.ExitCode != 127 {
		t.Errorf("sh in an image without a shell: exit %d, want not found", res.ExitCode)
	}
	res := run(t, m, sb.ID, sandbox.ExecRequest{Cmd: []string{"busybox", "cat", "/etc/os-release", "/proc/mounts"}})
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "volanttest") || !strings.Contains(res.Stdout, " /data ext") {
		t.Errorf("busybox cat in the image: exit %d, stdout %q, stderr %q; want the image's os-release and /data mounted", res.ExitCode, res.Stdout, res.Stderr)
	}
	g, err := m.Guest(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteFile(ctx, sandbox.WriteFileRequest{Path: "/data/kept"}, strings.NewReader("data\n")); err != nil {
		t.Fatalf("writing /data/kept: %v", err)
	}
	if _, err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	res = run(t, m, sb.ID, sandbox.ExecRequest{Cmd: []string{"busybox", "cat", "/data/kept"}})
	if res.Stdout != "data\n" {
		t.Errorf("/data/kept after stop/start = %q (%s), want data", res.Stdout, res.Stderr)
	}
}

func TestCreateImageWithoutStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the guest image")
	}
	env := sandboxtest.New(t, nil)
	_, err := env.Manager.Create(context.Background(), sandbox.Spec{Image: "python:3.12-slim"})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "no image store") {
		t.Errorf("create with an image and no image store: %v, want invalid saying so", err)
	}
}
