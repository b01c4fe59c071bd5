package plugins_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/store"
)

// fakeBus records the events published.
type fakeBus struct {
	mu     sync.Mutex
	events []events.Event
}

func (b *fakeBus) Publish(ctx context.Context, e events.Event) (events.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, e)
	return e, nil
}

func (b *fakeBus) types() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		out = append(out, e.Type)
	}
	return out
}

// env is a registry over a real store in a temporary directory.
type env struct {
	t     *testing.T
	store *store.Store
	dir   string // the registry's dir
	src   string // where artifact sources live
	bus   *fakeBus
	inUse atomic.Int64
	// asked, when set, runs inside InUse.
	asked func()
	// trusted and images, when set, are the registry's TrustedKeys and
	// Images.
	trusted []string
	images  plugins.Images
	builder plugins.ImageBuilder
	reg     *plugins.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	s, err := store.Open(context.Background(), filepath.Join(root, "volant.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{t: t, store: s, dir: filepath.Join(root, "plugins"), src: filepath.Join(root, "src"), bus: &fakeBus{}}
	if err := os.Mkdir(e.src, 0o755); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	return e
}

// reopen opens the registry again over the same store and dir.
func (e *env) reopen() {
	e.t.Helper()
	r, err := plugins.Open(context.Background(), plugins.Config{
		Store:       e.store,
		Dir:         e.dir,
		Events:      e.bus,
		SourceDirs:  []string{e.src},
		TrustedKeys: e.trusted,
		Images:      e.images,
		Builder:     e.builder,
		InUse: func(ctx context.Context, name string) (int, error) {
			if e.asked != nil {
				e.asked()
			}
			return int(e.inUse.Load()), nil
		},
	})
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.reg = r
}

// file writes a source file and returns its path and sha256.
func (e *env) file(name, content string) (string, string) {
	e.t.Helper()
	p := filepath.Join(e.src, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p, digest(content)
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// blobs lists the files in the registry's blob directory.
func (e *env) blobs() []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, "blobs"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, d := range entries {
		out = append(out, d.Name())
	}
	return out
}

// manifest builds a manifest with one source artifact, one content
// artifact, a workload and an action.
func (e *env) manifest(name, serverContent string) map[string]any {
	src, sum := e.file(name+"-server", serverContent)
	return map[string]any{
		"schema_version": 1,
		"name":           name,
		"version":        "1.2.3",
		"description":    "a test plugin",
		"artifacts": []any{
			map[string]any{"path": "/usr/local/bin/server", "source": src, "sha256": sum, "mode": "0755"},
			map[string]any{"path": "/etc/server.conf", "content": []byte("port=8080\n")},
		},
		"workload": map[string]any{"command": []string{"/usr/local/bin/server"}, "port": 8080, "health": "/healthz"},
		"actions": []any{
			map[string]any{"name": "run", "path": "/run", "input_schema": map[string]any{"type": "object", "properties": map[string]any{"cmd": map[string]any{"type": "string"}}}},
		},
		"openapi": json.RawMessage(`{"openapi":"3.1.0","paths":{
			"/items/{id}":{"get":{"operationId":"getItem","parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"string"}}]}},
			"/run":{"post":{"operationId":"run","summary":"the manifest's run wins"}}}}`),
		"resources": map[string]any{"vcpus": 2, "memory_mib": 256},
	}
}

func (e *env) install(m map[string]any) (*plugins.Plugin, error) {
	e.t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.reg.Install(context.Background(), raw)
}

func TestInstallListGetRuntime(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, err := e.install(e.manifest("echo", "#!/bin/sh\necho hi\n"))
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !p.Enabled || p.Name != "echo" || p.Version != "1.2.3" || p.Description != "a test plugin" || p.Problem != "" {
		t.Errorf("Install returned %+v", p)
	}
	if !strings.HasPrefix(p.Digest, "sha256:") {
		t.Errorf("digest = %q", p.Digest)
	}
	var names []string
	for _, a := range p.Actions {
		names = append(names, a.Name+":"+a.Source)
	}
	if want := []string{"run:manifest", "get_item:openapi"}; !slices.Equal(names, want) {
		t.Errorf("actions = %v, want %v", names, want)
	}
	// Content is kept as a blob, not in the stored manifest.
	rec, err := e.store.GetPlugin(ctx, "echo")
	if err != nil {
		t.Fatalf("GetPlugin: %v", err)
	}
	if strings.Contains(string(rec.Manifest), `"content"`) {
		t.Errorf("stored manifest keeps content: %s", rec.Manifest)
	}
	if got := p.Manifest.Artifacts[1].SHA256; got != digest("port=8080\n") {
		t.Errorf("content artifact sha256 = %q", got)
	}

	list, err := e.reg.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "echo" {
		t.Fatalf("List = %v, %v", list, err)
	}
	got, err := e.reg.Get(ctx, "echo")
	if err != nil || got.Digest != p.Digest {
		t.Fatalf("Get = %+v, %v", got, err)
	}

	rt, err := e.reg.Runtime(ctx, "echo")
	if err != nil {
		t.Fatalf("Runtime: %v", err)
	}
	if rt.Plugin != "echo" || rt.Version != "1.2.3" || rt.Digest != p.Digest || len(rt.Actions) != 2 {
		t.Errorf("Runtime = %+v", rt)
	}
	if rt.Workload.Restart != "always" || rt.Workload.ReadyTimeoutS != 30 || rt.Workload.Port != 8080 {
		t.Errorf("workload = %+v, want defaults filled in", rt.Workload)
	}
	if rt.Resources == nil || rt.Resources.VCPUs != 2 || rt.Resources.MemoryMiB != 256 {
		t.Errorf("resources = %+v", rt.Resources)
	}
	if len(rt.Files) != 2 {
		t.Fatalf("files = %+v", rt.Files)
	}
	for i, want := range []struct {
		guest, content string
		mode           uint32
	}{{"/usr/local/bin/server", "#!/bin/sh\necho hi\n", 0o755}, {"/etc/server.conf", "port=8080\n", 0o644}} {
		f := rt.Files[i]
		b, err := os.ReadFile(f.HostPath)
		if err != nil {
			t.Fatalf("reading %s: %v", f.HostPath, err)
		}
		if f.GuestPath != want.guest || f.Mode != want.mode || string(b) != want.content || f.Size != int64(len(want.content)) {
			t.Errorf("file %d = %+v with %q, want %s %o %q", i, f, b, want.guest, want.mode, want.content)
		}
	}

	a, err := e.reg.Action(ctx, "echo", "get_item")
	if err != nil || a.Method != "GET" || a.Path != "/items/{id}" {
		t.Errorf("Action = %+v, %v", a, err)
	}
	a, err = e.reg.Action(ctx, "echo", "run")
	if err != nil || a.Method != "POST" || a.Source != plugins.SourceManifest {
		t.Errorf("Action(run) = %+v, %v; want the manifest's", a, err)
	}
	_, err = e.reg.Action(ctx, "echo", "nope")
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "its actions are: run, get_item") {
		t.Errorf("Action(nope) error = %v", err)
	}

	// The registry comes back the same after a restart.
	e.reopen()
	again, err := e.reg.Get(ctx, "echo")
	if err != nil || again.Digest != p.Digest || again.Problem != "" || len(again.Actions) != 2 {
		t.Errorf("after reopen Get = %+v, %v", again, err)
	}
	if _, err := e.reg.Runtime(ctx, "echo"); err != nil {
		t.Errorf("after reopen Runtime: %v", err)
	}
}

func TestNotInstalled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for name, err := range map[string]error{
		"Get":     second(e.reg.Get(ctx, "nope")),
		"Runtime": second(e.reg.Runtime(ctx, "nope")),
		"Action":  second(e.reg.Action(ctx, "nope", "x")),
		"Enable":  second(e.reg.Enable(ctx, "nope")),
		"Disable": second(e.reg.Disable(ctx, "nope")),
		"Remove":  e.reg.Remove(ctx, "nope"),
	} {
		if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), `plugin "nope" is not installed; list the installed plugins`) {
			t.Errorf("%s error = %v", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestEnableDisableRemove(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var calls atomic.Int64
	cancel := e.reg.Subscribe(func() {
		// Called with no lock held: the registry may be used.
		if _, err := e.reg.List(ctx); err != nil {
			t.Errorf("List in subscriber: %v", err)
		}
		calls.Add(1)
	})
	if _, err := e.install(e.manifest("echo", "x")); err != nil {
		t.Fatalf("Install: %v", err)
	}

	p, err := e.reg.Disable(ctx, "echo")
	if err != nil || p.Enabled {
		t.Fatalf("Disable = %+v, %v", p, err)
	}
	if p, err = e.reg.Disable(ctx, "echo"); err != nil || p.Enabled {
		t.Fatalf("second Disable = %+v, %v", p, err)
	}
	_, err = e.reg.Runtime(ctx, "echo")
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "plugin echo is disabled; enable it first") {
		t.Errorf("Runtime of a disabled plugin: %v", err)
	}
	if _, err = e.reg.Action(ctx, "echo", "run"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Action of a disabled plugin: %v", err)
	}
	e.reopen()
	if p, err := e.reg.Get(ctx, "echo"); err != nil || p.Enabled {
		t.Fatalf("after reopen Get = %+v, %v; want disabled", p, err)
	}
	cancel()
	cancel = e.reg.Subscribe(func() { calls.Add(1) })
	defer cancel()

	if p, err = e.reg.Enable(ctx, "echo"); err != nil || !p.Enabled {
		t.Fatalf("Enable = %+v, %v", p, err)
	}
	if _, err := e.reg.Enable(ctx, "echo"); err != nil {
		t.Fatalf("second Enable: %v", err)
	}
	if _, err := e.reg.Runtime(ctx, "echo"); err != nil {
		t.Errorf("Runtime after Enable: %v", err)
	}

	if err := e.reg.Remove(ctx, "echo"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := e.reg.Get(ctx, "echo"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
	if _, err := e.store.GetPlugin(ctx, "echo"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("store still has the plugin: %v", err)
	}
	if b := e.blobs(); len(b) != 0 {
		t.Errorf("blobs left after Remove: %v", b)
	}

	// install, disable, enable, remove; no-ops do not count.
	if got := calls.Load(); got != 4 {
		t.Errorf("subscribers called %d times, want 4", got)
	}
	want := []string{events.PluginInstalled, events.PluginDisabled, events.PluginEnabled, events.PluginRemoved}
	if got := e.bus.types(); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	var data struct{ Name, Version string }
	if err := json.Unmarshal(e.bus.events[0].Data, &data); err != nil || data.Name != "echo" || data.Version != "1.2.3" {
		t.Errorf("installed event data = %s (%v)", e.bus.events[0].Data, err)
	}
}

func TestInstallTwice(t *testing.T) {
	e := newEnv(t)
	if _, err := e.install(e.manifest("echo", "x")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	_, err := e.install(e.manifest("echo", "y"))
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "remove it first") {
		t.Errorf("second Install error = %v", err)
	}
	if got := len(e.blobs()); got != 2 {
		t.Errorf("%d blobs, want 2 (the refused install leaves none)", got)
	}
}

func TestInstallInvalid(t *testing.T) {
	e := newEnv(t)
	_, err := e.reg.Install(context.Background(), []byte(`{"schema_version":1,"name":"echo","version":"1","bogus":1}`))
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "bogus: unknown field") {
		t.Errorf("Install error = %v", err)
	}
}

// TestInstallFailureLeavesNothing installs manifests whose second or third
// artifact is bad: neither a record nor a blob may remain.
func TestInstallFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *env, arts []any) []any
		want   string
	}{
		{"sha mismatch", func(e *env, arts []any) []any {
			src, _ := e.file("other", "other bytes")
			return append(arts, map[string]any{"path": "/x", "source": src, "sha256": digest("something else")})
		}, "artifacts[2].sha256: the file of %SRC%/other (for /x) does not have the manifest's sha256 " + digest("something else")},
		{"content mismatch", func(e *env, arts []any) []any {
			return append(arts, map[string]any{"path": "/x", "content": []byte("abc"), "sha256": digest("abd")})
		}, "artifacts[2].sha256: the content for /x has sha256 " + digest("abc")},
		{"missing source", func(e *env, arts []any) []any {
			return append(arts, map[string]any{"path": "/x", "source": "/nonexistent/file", "sha256": digest("")})
		}, "artifacts[2].source: \"/nonexistent/file\" is not a readable regular file under the daemon's plugin directories"},
		{"directory source", func(e *env, arts []any) []any {
			return append(arts, map[string]any{"path": "/x", "source": e.src, "sha256": digest("")})
		}, "is not a readable regular file under the daemon's plugin directories"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			m := e.manifest("echo", "unique server bytes")
			m["artifacts"] = tt.change(e, m["artifacts"].([]any))
			_, err := e.install(m)
			want := strings.ReplaceAll(tt.want, "%SRC%", e.src)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Install error = %v\nwant it to contain %q", err, want)
			}
			if b := e.blobs(); len(b) != 0 {
				t.Errorf("blobs left: %v", b)
			}
			if _, err := e.store.GetPlugin(context.Background(), "echo"); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("record left: %v", err)
			}
			if got := e.bus.types(); len(got) != 0 {
				t.Errorf("events published: %v", got)
			}
		})
	}
}

func TestBrokenAfterOpen(t *testing.T) {
	for _, tt := range []struct {
		name   string
		break_ func(path string) error
		want   string
	}{
		{"corrupt", func(p string) error { return os.WriteFile(p, []byte("tampered"), 0o600) }, "is corrupt"},
		{"missing", os.Remove, "is missing"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			if _, err := e.install(e.manifest("echo", "server")); err != nil {
				t.Fatalf("Install: %v", err)
			}
			if _, err := e.install(e.manifest("other", "other server")); err != nil {
				t.Fatalf("Install: %v", err)
			}
			if err := tt.break_(filepath.Join(e.dir, "blobs", digest("server"))); err != nil {
				t.Fatal(err)
			}
			e.reopen()
			p, err := e.reg.Get(ctx, "echo")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !strings.Contains(p.Problem, "artifact /usr/local/bin/server") || !strings.Contains(p.Problem, tt.want) || !strings.Contains(p.Problem, "install it again") {
				t.Errorf("problem = %q", p.Problem)
			}
			_, err = e.reg.Runtime(ctx, "echo")
			if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "install it again") || len(errdefs.Remedies(err)) != 2 {
				t.Errorf("Runtime of a broken plugin: %v", err)
			}
			if p, err := e.reg.Get(ctx, "other"); err != nil || p.Problem != "" {
				t.Errorf("the other plugin: %+v, %v", p, err)
			}
			if _, err := e.reg.Runtime(ctx, "other"); err != nil {
				t.Errorf("Runtime of the other plugin: %v", err)
			}
			// Reinstalling mends it.
			if err := e.reg.Remove(ctx, "echo"); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if _, err := e.install(e.manifest("echo", "server")); err != nil {
				t.Fatalf("reinstall: %v", err)
			}
			if _, err := e.reg.Runtime(ctx, "echo"); err != nil {
				t.Errorf("Runtime after reinstall: %v", err)
			}
		})
	}
}

func TestRuntimeNoticesMissingFile(t *testing.T) {
	e := newEnv(t)
	if _, err := e.install(e.manifest("echo", "server")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	os.Remove(filepath.Join(e.dir, "blobs", digest("server")))
	_, err := e.reg.Runtime(context.Background(), "echo")
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "/usr/local/bin/server") {
		t.Errorf("Runtime error = %v", err)
	}
}

func TestInUseRefuses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.install(e.manifest("echo", "x")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	e.inUse.Store(3)
	_, err := e.reg.Disable(ctx, "echo")
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "runtime of 3 sandboxes; delete them first") {
		t.Errorf("Disable error = %v", err)
	}
	err = e.reg.Remove(ctx, "echo")
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "then remove the plugin") {
		t.Errorf("Remove error = %v", err)
	}
	if p, err := e.reg.Get(ctx, "echo"); err != nil || !p.Enabled {
		t.Errorf("after refusals Get = %+v, %v", p, err)
	}
	e.inUse.Store(0)
	if err := e.reg.Remove(ctx, "echo"); err != nil {
		t.Errorf("Remove when unused: %v", err)
	}
}

// While Disable or Remove asks whether a plugin is in use, no sandbox may
// start with it: a create that asked for the runtime after InUse counted
// would run a plugin about to go.
func TestNoRuntimeWhileAskingInUse(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.install(e.manifest("echo", "x")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	var during error
	e.asked = func() { _, during = e.reg.Runtime(ctx, "echo") }
	e.inUse.Store(1)
	if _, err := e.reg.Disable(ctx, "echo"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("Disable while in use = %v", err)
	}
	if !errors.Is(during, errdefs.ErrConflict) {
		t.Errorf("Runtime while Disable asked InUse = %v, want a conflict", during)
	}
	if _, err := e.reg.Runtime(ctx, "echo"); err != nil {
		t.Errorf("Runtime after a refused Disable: %v", err)
	}
	during = nil
	if err := e.reg.Remove(ctx, "echo"); !errors.Is(err, errdefs.ErrConflict) || !errors.Is(during, errdefs.ErrConflict) {
		t.Errorf("Remove while in use = %v; Runtime meanwhile = %v", err, during)
	}
}

func TestRemoveKeepsSharedBlobs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.install(e.manifest("one", "shared server")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if _, err := e.install(e.manifest("two", "shared server")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if got := len(e.blobs()); got != 2 {
		t.Fatalf("%d blobs, want 2 shared by both plugins", got)
	}
	if err := e.reg.Remove(ctx, "one"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if got := len(e.blobs()); got != 2 {
		t.Errorf("%d blobs after removing one plugin, want 2", got)
	}
	if _, err := e.reg.Runtime(ctx, "two"); err != nil {
		t.Errorf("Runtime of the other plugin: %v", err)
	}
}

func TestOpenCleansLeftovers(t *testing.T) {
	e := newEnv(t)
	if _, err := e.install(e.manifest("echo", "x")); err != nil {
		t.Fatalf("Install: %v", err)
	}
	blobs := filepath.Join(e.dir, "blobs")
	orphan := filepath.Join(blobs, digest("orphan"))
	temp := filepath.Join(blobs, ".tmp-123")
	for _, p := range []string{orphan, temp} {
		if err := os.WriteFile(p, []byte("orphan"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.reopen()
	for _, p := range []string{orphan, temp} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	if got := len(e.blobs()); got != 2 {
		t.Errorf("%d blobs, want the plugin's 2", got)
	}
}

func TestOpenConfig(t *testing.T) {
	if _, err := plugins.Open(context.Background(), plugins.Config{Dir: t.TempDir()}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Open without a store: %v", err)
	}
}

func TestConcurrentInstalls(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	manifests := make([][]byte, 8)
	for i := range manifests {
		// Half share one server file, so installs and removes race on it.
		m := e.manifest(fmt.Sprintf("p%d", i), fmt.Sprintf("server %d", i%2))
		manifests[i], _ = json.Marshal(m)
	}
	var wg sync.WaitGroup
	for i, raw := range manifests {
		wg.Go(func() {
			if _, err := e.reg.Install(ctx, raw); err != nil {
				t.Errorf("Install p%d: %v", i, err)
				return
			}
			if _, err := e.reg.Runtime(ctx, fmt.Sprintf("p%d", i)); err != nil {
				t.Errorf("Runtime p%d: %v", i, err)
			}
			if i%2 == 0 {
				if err := e.reg.Remove(ctx, fmt.Sprintf("p%d", i)); err != nil {
					t.Errorf("Remove p%d: %v", i, err)
				}
			}
			e.reg.List(ctx)
		})
	}
	wg.Wait()
	list, _ := e.reg.List(ctx)
	if len(list) != 4 {
		t.Fatalf("%d plugins left, want 4", len(list))
	}
	for _, p := range list {
		if _, err := e.reg.Runtime(ctx, p.Name); err != nil {
			t.Errorf("Runtime %s: %v", p.Name, err)
		}
	}
}
