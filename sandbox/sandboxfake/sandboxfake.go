// Package sandboxfake is an engine for the adapters' tests: sandboxes in a
// map, and inside them the real kestrel agent handlers running on this
// host over in-memory connections (the agent protocol is real, the VM is
// not). Every request goes through the engine's own Validate, and errors
// are the engine's, so a test of a surface sees what the engine answers.
package sandboxfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/files"
	"github.com/volant-sh/volant/kestrel/ports"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/term"
	"github.com/volant-sh/volant/sandbox"
)

// Limits are the fake's create limits.
var Limits = sandbox.Limits{MaxVCPUs: 4, MaxMemoryMiB: 4096, MaxDiskMiB: 1 << 20, MaxTTL: 30 * 24 * 3600}

// Engine is the fake engine. It implements what rest and mcp need of
// *sandbox.Manager.
type Engine struct {
	// OnAction, when set, answers plugin actions (after the sandbox is
	// found running); otherwise plugins are unavailable. Set it before use.
	OnAction func(ctx context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error)
	// OnActionAnswer, when set, answers plugin actions instead of
	// OnAction, with a typed answer (binary media, streams' progress).
	OnActionAnswer func(ctx context.Context, id, plugin, action string, input json.RawMessage, opts sandbox.ActionOptions) (*sandbox.ActionAnswer, error)
	// IDPrefix starts the sandboxes' ids (numbered from 1); empty means
	// "sbx-". Snapshots are numbered apart, "snap-1" on. Set it before use.
	IDPrefix string
	// Console is every sandbox's console log; nil means "kestrel: ready\n".
	Console []byte
	// Info is what System answers; nil describes a fake host.
	Info *sandbox.SystemInfo

	agent *client.Client
	// dir holds the console log's file.
	dir string

	mu        sync.Mutex
	next      int
	nextSnap  int
	sandboxes map[string]*sandbox.Sandbox
	snapshots map[string]*sandbox.Snapshot
	watchers  map[int]chan Change
	nextWatch int
}

// Change says that a sandbox was created, changed state or was deleted.
type Change struct {
	SandboxID string
	Deleted   bool
}

// New returns an empty engine whose agent handlers stop in t.Cleanup.
func New(t testing.TB) *Engine {
	t.Helper()
	r := reaper.New(false)
	svc := proc.New(proc.Config{Reaper: r})
	t.Cleanup(func() { svc.Close(); r.Close() })
	mux := http.NewServeMux()
	svc.Register(mux)
	files.Register(mux)
	ports.Register(mux)
	term.New(r, nil).Register(mux)
	return &Engine{agent: clienttest.Serve(t, mux).Client, dir: t.TempDir(), sandboxes: map[string]*sandbox.Sandbox{},
		snapshots: map[string]*sandbox.Snapshot{}, watchers: map[int]chan Change{}}
}

// Watch calls fn for every change, in order, until ctx ends.
func (e *Engine) Watch(ctx context.Context, fn func(Change)) error {
	ch := make(chan Change, 1024)
	e.mu.Lock()
	n := e.nextWatch
	e.nextWatch++
	e.watchers[n] = ch
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.watchers, n)
		e.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-ch:
			fn(c)
		}
	}
}

// changedLocked tells the watchers; e.mu is held.
func (e *Engine) changedLocked(c Change) {
	for _, ch := range e.watchers {
		ch <- c
	}
}

func (e *Engine) lookup(id string) (*sandbox.Sandbox, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sb, ok := e.sandboxes[id]
	if !ok {
		for _, s := range e.sandboxes {
			if s.Name != "" && s.Name == id {
				sb, ok = s, true
			}
		}
	}
	if !ok {
		return nil, sandbox.LookupError(id)
	}
	c := *sb
	return &c, nil
}

func (e *Engine) setState(id string, to sandbox.State, from ...sandbox.State) (*sandbox.Sandbox, error) {
	sb, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.sandboxes[sb.ID]
	if cur.State != to && !slices.Contains(from, cur.State) {
		return nil, errdefs.Conflict("sandbox %s is %s; it cannot become %s", sb.ID, cur.State, to)
	}
	cur.State, cur.UpdatedAt = to, time.Now().UTC()
	e.changedLocked(Change{SandboxID: cur.ID})
	c := *cur
	return &c, nil
}

// Create validates spec with Limits and records a running sandbox.
func (e *Engine) Create(_ context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	if err := spec.Validate(Limits); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.sandboxes {
		if spec.Name != "" && s.Name == spec.Name {
			return nil, errdefs.Conflict("a sandbox named %q exists already; pick another name or delete that one", spec.Name)
		}
	}
	if spec.FromSnapshot != "" {
		if _, ok := e.snapshots[spec.FromSnapshot]; !ok {
			return nil, errdefs.WithRemedy(errdefs.NotFound("snapshot %q not found; list snapshots to see the ids", spec.FromSnapshot), errdefs.OpSnapshotList)
		}
	}
	e.next++
	now := time.Now().UTC()
	if spec.Runtime == "" {
		spec.Runtime = sandbox.DefaultRuntime
	}
	prefix := e.IDPrefix
	if prefix == "" {
		prefix = "sbx-"
	}
	sb := &sandbox.Sandbox{ID: fmt.Sprintf("%s%d", prefix, e.next), Name: spec.Name, Runtime: spec.Runtime, State: sandbox.StateRunning,
		Spec: spec, Labels: spec.Labels, FromSnapshot: spec.FromSnapshot, CreatedAt: now, UpdatedAt: now, LastActiveAt: now}
	e.sandboxes[sb.ID] = sb
	e.changedLocked(Change{SandboxID: sb.ID})
	c := *sb
	return &c, nil
}

// Get returns a sandbox by id or name.
func (e *Engine) Get(_ context.Context, id string) (*sandbox.Sandbox, error) { return e.lookup(id) }

// List returns the sandboxes opts selects (by state, runtime and labels),
// by id, in one page.
func (e *Engine) List(_ context.Context, opts sandbox.ListOptions) (*sandbox.ListPage, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	page := &sandbox.ListPage{Items: []*sandbox.Sandbox{}}
	for _, s := range e.sandboxes {
		if selected(s, opts) {
			c := *s
			page.Items = append(page.Items, &c)
		}
	}
	sort.Slice(page.Items, func(i, j int) bool { return page.Items[i].ID < page.Items[j].ID })
	return page, nil
}

// selected reports whether opts selects s.
func selected(s *sandbox.Sandbox, opts sandbox.ListOptions) bool {
	if len(opts.States) > 0 && !slices.Contains(opts.States, s.State) {
		return false
	}
	if opts.Runtime != "" && s.Runtime != opts.Runtime {
		return false
	}
	for k, v := range opts.Labels {
		if s.Labels[k] != v {
			return false
		}
	}
	return true
}

// Start, Stop, Pause and Resume move a sandbox between states.
func (e *Engine) Start(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StateRunning, sandbox.StateStopped)
}

// Stop stops a running sandbox.
func (e *Engine) Stop(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StateStopped, sandbox.StateRunning, sandbox.StatePaused)
}

// Pause pauses a running sandbox.
func (e *Engine) Pause(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StatePaused, sandbox.StateRunning)
}

// Resume resumes a paused sandbox or wakes a hibernated one.
func (e *Engine) Resume(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StateRunning, sandbox.StatePaused, sandbox.StateHibernated)
}

// Hibernate hibernates a running or paused sandbox. Unlike the engine, the
// fake does not wake it on the next request (NeedRunning says to resume).
func (e *Engine) Hibernate(_ context.Context, id string) (*sandbox.Sandbox, error) {
	return e.setState(id, sandbox.StateHibernated, sandbox.StateRunning, sandbox.StatePaused)
}

// Delete forgets a sandbox.
func (e *Engine) Delete(_ context.Context, id string) error {
	sb, err := e.lookup(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sandboxes, sb.ID)
	e.changedLocked(Change{SandboxID: sb.ID, Deleted: true})
	return nil
}

// Exec runs a command through the agent, passing output to out as it
// comes when out is not nil.
func (e *Engine) Exec(ctx context.Context, id string, req sandbox.ExecRequest, out sandbox.OutputFunc) (*sandbox.ExecResult, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, err := e.Guest(ctx, id); err != nil {
		return nil, err
	}
	creq := client.ExecRequest{Argv: req.Cmd, Cwd: req.Cwd, User: req.User, Stdin: req.Stdin,
		TimeoutMS: req.Timeout.Milliseconds(), MaxOutputBytes: req.MaxOutputBytes}
	for k, v := range req.Env {
		creq.Env = append(creq.Env, k+"="+v)
	}
	var stdout, stderr []byte
	var onOut func(string, []byte)
	if out != nil {
		onOut = func(stream string, data []byte) {
			if stream == client.StreamStdout {
				stdout = append(stdout, data...)
			} else {
				stderr = append(stderr, data...)
			}
			out(stream, data)
		}
	}
	r, err := e.agent.Exec(ctx, creq, onOut)
	if err != nil {
		return nil, err
	}
	if out == nil {
		stdout, stderr = r.Stdout, r.Stderr
	}
	return &sandbox.ExecResult{Stdout: string(stdout), Stderr: string(stderr), ExitCode: r.ExitCode, Signal: r.Signal,
		TimedOut: r.TimedOut, StdoutTruncated: r.StdoutTruncated, StderrTruncated: r.StderrTruncated, DurationMS: r.DurationMS}, nil
}

// Guest returns the operations inside a running sandbox, on the real
// agent handlers.
func (e *Engine) Guest(_ context.Context, id string) (*sandbox.Guest, error) {
	sb, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	if err := sandbox.NeedRunning(sb); err != nil {
		return nil, err
	}
	return sandbox.NewGuest(sb.ID, e.agent, sb.Spec.Env, nil), nil
}

// ConsoleLog answers a fixed console.
func (e *Engine) ConsoleLog(_ context.Context, id string, _ int) ([]byte, string, error) {
	if _, err := e.lookup(id); err != nil {
		return nil, "", err
	}
	data := e.Console
	if data == nil {
		data = []byte("kestrel: ready\n")
	}
	// REST reads and follows the log's file itself.
	path := filepath.Join(e.dir, "console.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, "", err
	}
	return data, path, nil
}

// System answers e.Info, or describes a fake host.
func (e *Engine) System(context.Context) (*sandbox.SystemInfo, error) {
	if e.Info != nil {
		c := *e.Info
		return &c, nil
	}
	return &sandbox.SystemInfo{Version: "test", Driver: "fake", Drivers: []string{"fake"}, Accel: "none"}, nil
}

// Snapshot records a snapshot of a running or paused sandbox.
func (e *Engine) Snapshot(_ context.Context, id string) (*sandbox.Snapshot, error) {
	sb, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	if sb.State != sandbox.StateRunning && sb.State != sandbox.StatePaused {
		return nil, errdefs.Conflict("sandbox %s is %s; only a running or paused sandbox can be snapshotted", sb.ID, sb.State)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextSnap++
	sn := &sandbox.Snapshot{ID: fmt.Sprintf("snap-%d", e.nextSnap), SandboxID: sb.ID, Runtime: sb.Runtime, CreatedAt: time.Now().UTC()}
	e.snapshots[sn.ID] = sn
	c := *sn
	return &c, nil
}

// Fork validates its count, snapshots the sandbox as the engine does and
// restores the clones' records from that snapshot.
func (e *Engine) Fork(ctx context.Context, id string, req sandbox.ForkRequest) ([]*sandbox.Sandbox, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	n := req.Count
	src, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	snap, err := e.Snapshot(ctx, src.ID)
	if err != nil {
		return nil, err
	}
	var out []*sandbox.Sandbox
	for range max(n, 1) {
		spec := src.Spec
		spec.Name, spec.FromSnapshot, spec.ColdBoot = "", snap.ID, false
		sb, err := e.Create(ctx, spec)
		if err != nil {
			return nil, err
		}
		out = append(out, sb)
	}
	return out, nil
}

// ListSnapshots returns the snapshots, by id.
func (e *Engine) ListSnapshots(context.Context) ([]*sandbox.Snapshot, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []*sandbox.Snapshot{}
	for _, sn := range e.snapshots {
		c := *sn
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// GetSnapshot returns one snapshot.
func (e *Engine) GetSnapshot(_ context.Context, id string) (*sandbox.Snapshot, error) {
	if err := sandbox.ValidateID("snapshot id", id); err != nil {
		return nil, err // the engine checks ids first too
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	sn, ok := e.snapshots[id]
	if !ok {
		return nil, errdefs.WithRemedy(errdefs.NotFound("snapshot %q not found; list snapshots to see the ids", id), errdefs.OpSnapshotList)
	}
	c := *sn
	return &c, nil
}

// DeleteSnapshot removes a snapshot no sandbox was restored from.
func (e *Engine) DeleteSnapshot(ctx context.Context, id string) error {
	if _, err := e.GetSnapshot(ctx, id); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, sb := range e.sandboxes {
		if sb.FromSnapshot == id {
			return errdefs.WithRemedy(errdefs.Conflict("snapshot %s has a sandbox restored from it (%s); delete it first", id, sb.ID), errdefs.OpSandboxDelete, "id", sb.ID)
		}
	}
	delete(e.snapshots, id)
	return nil
}

// Action calls e.OnAction on a running sandbox; without it, plugins are
// unavailable.
func (e *Engine) Action(ctx context.Context, id, plugin, action string, input json.RawMessage, opts ...sandbox.ActionOptions) (*sandbox.ActionAnswer, error) {
	if _, err := e.Guest(ctx, id); err != nil {
		return nil, err
	}
	if e.OnActionAnswer != nil {
		var o sandbox.ActionOptions
		if len(opts) > 0 {
			o = opts[0]
		}
		return e.OnActionAnswer(ctx, id, plugin, action, input, o)
	}
	if e.OnAction == nil {
		return nil, errdefs.Unavailable("plugins are not enabled on this daemon")
	}
	out, err := e.OnAction(ctx, id, plugin, action, input)
	if err != nil {
		return nil, err
	}
	return &sandbox.ActionAnswer{ContentType: "application/json", Body: out}, nil
}
