package mcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/errdefs"
)

// call calls a tool and returns its result; a protocol error fails the test.
func call(t testing.TB, cs *sdk.ClientSession, name string, args any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func resultText(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// ok calls a tool that must succeed and decodes its structured content.
func ok[T any](t testing.TB, cs *sdk.ClientSession, name string, args any) T {
	t.Helper()
	res := call(t, cs, name, args)
	if res.IsError {
		t.Fatalf("%s(%v): error %q", name, args, resultText(res))
	}
	var out T
	data, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s: decoding structured content %s: %v", name, data, err)
	}
	return out
}

func TestListTools(t *testing.T) {
	_, cs := connect(t, newFakeEngine(t), nil, nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tools := map[string]*sdk.Tool{}
	var names []string
	for _, tool := range res.Tools {
		tools[tool.Name] = tool
		names = append(names, tool.Name)
	}
	want := []string{"file_list", "file_read", "file_remove", "file_write", "image_list", "image_pull", "plugin_list", "process_delete", "process_read",
		"process_signal", "process_start", "process_write", "sandbox_create", "sandbox_delete", "sandbox_exec", "sandbox_fork",
		"sandbox_get", "sandbox_hibernate", "sandbox_list", "sandbox_pause", "sandbox_resume", "sandbox_snapshot", "sandbox_start", "sandbox_stop",
		"snapshot_delete", "snapshot_list"}
	slices.Sort(names)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("tools (-want +got):\n%s", diff)
	}
	for _, tool := range res.Tools {
		if tool.Description == "" || tool.Annotations == nil || tool.OutputSchema == nil {
			t.Errorf("%s: want a description, annotations and an output schema", tool.Name)
		}
		if a := tool.Annotations; a != nil && !a.ReadOnlyHint && a.DestructiveHint == nil {
			t.Errorf("%s: not read-only, so it must say whether it is destructive", tool.Name)
		}
	}
	hints := []struct {
		name               string
		readOnly, destroys bool
		idempotent         bool
	}{
		{"sandbox_list", true, false, false},
		{"file_read", true, false, false},
		{"sandbox_delete", false, true, true},
		{"sandbox_create", false, false, false},
		{"sandbox_exec", false, true, false},
	}
	for _, h := range hints {
		a := tools[h.name].Annotations
		got := [3]bool{a.ReadOnlyHint, a.DestructiveHint != nil && *a.DestructiveHint, a.IdempotentHint}
		if want := [3]bool{h.readOnly, h.destroys, h.idempotent}; got != want && !(h.readOnly && got[0]) {
			t.Errorf("%s hints (readOnly, destructive, idempotent) = %v, want %v", h.name, got, want)
		}
	}
	// Schemas: argument names, required fields, descriptions.
	schema := func(name string) map[string]any {
		data, _ := json.Marshal(tools[name].InputSchema)
		var m map[string]any
		json.Unmarshal(data, &m)
		return m
	}
	exec := schema("sandbox_exec")
	props := exec["properties"].(map[string]any)
	for _, p := range []string{"sandbox_id", "cmd", "env", "cwd", "timeout_s"} {
		if _, ok := props[p]; !ok {
			t.Errorf("sandbox_exec: no %q argument", p)
		}
	}
	if d, _ := props["cmd"].(map[string]any)["description"].(string); !strings.Contains(d, "argv") {
		t.Errorf("sandbox_exec cmd description = %q, want it to explain argv", d)
	}
	if diff := cmp.Diff([]any{"sandbox_id", "cmd"}, exec["required"]); diff != "" {
		t.Errorf("sandbox_exec required (-want +got):\n%s", diff)
	}
	fw := schema("file_write")["properties"].(map[string]any)
	for _, p := range []string{"sandbox_id", "path", "content", "encoding"} {
		if _, ok := fw[p]; !ok {
			t.Errorf("file_write: no %q argument", p)
		}
	}
}

func TestToolErrors(t *testing.T) {
	eng := newFakeEngine(t)
	_, cs := connect(t, eng, nil, nil)
	sb := ok[map[string]any](t, cs, "sandbox_create", map[string]any{})
	id := sb["id"].(string)
	paused := ok[map[string]any](t, cs, "sandbox_create", map[string]any{})["id"].(string)
	ok[map[string]any](t, cs, "sandbox_pause", map[string]any{"sandbox_id": paused})
	snap := ok[map[string]any](t, cs, "sandbox_snapshot", map[string]any{"sandbox_id": id})["id"].(string)
	ok[map[string]any](t, cs, "sandbox_create", map[string]any{"from_snapshot": snap})

	tests := []struct {
		name string
		tool string
		args map[string]any
		want []string // substrings of the error message
		not  string   // must not appear
	}{
		{"unknown sandbox", "sandbox_get", map[string]any{"sandbox_id": "sbx-nope"}, []string{`"sbx-nope" not found`, "sandbox_list"}, ""},
		{"delete unknown", "sandbox_delete", map[string]any{"sandbox_id": "sbx-nope"}, []string{"not found"}, ""},
		{"exec unknown sandbox", "sandbox_exec", map[string]any{"sandbox_id": "sbx-nope", "cmd": []string{"true"}}, []string{"not found"}, ""},
		{"missing sandbox_id", "sandbox_get", map[string]any{}, []string{"sandbox_id"}, ""},
		{"empty sandbox_id", "sandbox_get", map[string]any{"sandbox_id": " "}, []string{"sandbox id", "sandbox_list"}, ""},
		{"unknown argument", "sandbox_get", map[string]any{"sandbox_id": id, "sandbox": "x"}, []string{"sandbox"}, ""},
		{"wrong type", "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": "ls -l"}, []string{"cmd"}, ""},
		{"empty cmd", "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{}}, []string{"invalid arguments", "argv"}, ""},
		{"relative cwd", "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"ls"}, "cwd": "tmp"}, []string{"absolute"}, ""},
		{"negative timeout", "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"ls"}, "timeout_s": -1}, []string{"timeout_s"}, ""},
		{"bad env name", "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"ls"}, "env": map[string]string{"1X": "y"}}, []string{"env"}, ""},
		{"paused", "sandbox_exec", map[string]any{"sandbox_id": paused, "cmd": []string{"true"}}, []string{"is paused", "sandbox_resume"}, "/v1/"},
		{"paused files", "file_read", map[string]any{"sandbox_id": paused, "path": "/etc/hostname"}, []string{"sandbox_resume"}, "POST"},
		{"relative path", "file_read", map[string]any{"sandbox_id": id, "path": "etc/hostname"}, []string{"must be absolute"}, ""},
		{"bad encoding", "file_read", map[string]any{"sandbox_id": id, "path": "/x", "encoding": "hex"}, []string{"utf8 or base64"}, ""},
		{"bad base64", "file_write", map[string]any{"sandbox_id": id, "path": "/tmp/x", "content": "@@", "encoding": "base64"}, []string{"base64"}, ""},
		{"bad mode", "file_write", map[string]any{"sandbox_id": id, "path": "/tmp/x", "content": "", "mode": "rwx"}, []string{"octal"}, ""},
		{"missing file", "file_read", map[string]any{"sandbox_id": id, "path": "/nonexistent/file"}, []string{"file_list"}, ""},
		{"remove root", "file_remove", map[string]any{"sandbox_id": id, "path": "/"}, []string{"sandbox_delete"}, ""},
		{"bad state filter", "sandbox_list", map[string]any{"state": "sleeping"}, []string{"running"}, ""},
		{"bad fork count", "sandbox_fork", map[string]any{"sandbox_id": id, "count": 101}, []string{"between 1 and 100"}, ""},
		{"bad name", "sandbox_create", map[string]any{"name": "Bad_Name"}, []string{"invalid arguments", "lowercase"}, ""},
		{"snapshot in use", "snapshot_delete", map[string]any{"snapshot_id": snap}, []string{"sandbox_delete"}, "DELETE"},
		{"missing process", "process_read", map[string]any{"sandbox_id": id, "process_id": "p-nope"}, []string{"process_start"}, ""},
		{"process without id", "process_signal", map[string]any{"sandbox_id": id, "process_id": ""}, []string{"process_id"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, cs, tt.tool, tt.args)
			msg := resultText(res)
			if !res.IsError {
				t.Fatalf("%s: got success %q, want an error", tt.tool, msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if tt.not != "" && strings.Contains(msg, tt.not) {
				t.Errorf("error %q contains %q", msg, tt.not)
			}
		})
	}
}

func TestRemedyTools(t *testing.T) {
	for _, op := range errdefs.Ops {
		if _, ok := remedyTools[op]; !ok {
			t.Errorf("no tool renders remedy %s", op)
		}
	}
	tests := []struct {
		err  error
		want string
	}{
		{errdefs.WithRemedy(errdefs.Conflict("sandbox sbx-1 is paused; resume it first"), errdefs.OpSandboxResume, "id", "sbx-1"),
			"sandbox sbx-1 is paused; resume it first (sandbox_resume)"},
		{errdefs.WithRemedy(errdefs.NotFound("sandbox \"x\" not found"), errdefs.OpSandboxList), `sandbox "x" not found (sandbox_list)`},
		{errdefs.WithRemedy(errdefs.WithRemedy(errdefs.Unavailable("plugin p is broken"), errdefs.OpPluginRemove, "name", "p"), errdefs.OpPluginInstall),
			"plugin p is broken (ask the operator to remove the plugin; ask the operator to install the plugin)"},
		{errdefs.Conflict("nothing to render"), "nothing to render"},
	}
	for _, tt := range tests {
		if got := toolError(tt.err).Error(); got != tt.want {
			t.Errorf("toolError(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestSandboxTools(t *testing.T) {
	_, cs := connect(t, newFakeEngine(t), nil, nil)
	sb := ok[map[string]any](t, cs, "sandbox_create", map[string]any{"name": "web", "labels": map[string]string{"team": "a"}})
	id, _ := sb["id"].(string)
	if id == "" || sb["state"] != "running" {
		t.Fatalf("sandbox_create = %v, want an id and state running", sb)
	}
	list := ok[ListOutput](t, cs, "sandbox_list", map[string]any{"state": "running"})
	if len(list.Sandboxes) != 1 || list.Sandboxes[0].ID != id {
		t.Fatalf("sandbox_list = %+v, want [%s]", list, id)
	}
	if got := ok[map[string]any](t, cs, "sandbox_pause", map[string]any{"sandbox_id": id})["state"]; got != "paused" {
		t.Errorf("after pause state = %v", got)
	}
	if got := ok[map[string]any](t, cs, "sandbox_resume", map[string]any{"sandbox_id": id})["state"]; got != "running" {
		t.Errorf("after resume state = %v", got)
	}
	if got := ok[map[string]any](t, cs, "sandbox_get", map[string]any{"sandbox_id": id})["name"]; got != "web" {
		t.Errorf("sandbox_get name = %v", got)
	}
	if got := ok[map[string]any](t, cs, "sandbox_snapshot", map[string]any{"sandbox_id": id})["sandbox_id"]; got != id {
		t.Errorf("sandbox_snapshot sandbox_id = %v", got)
	}
	fork := ok[SandboxesOutput](t, cs, "sandbox_fork", map[string]any{"sandbox_id": id, "count": 2})
	if len(fork.Sandboxes) != 2 {
		t.Errorf("sandbox_fork made %d clones, want 2", len(fork.Sandboxes))
	}
	if snaps := ok[SnapshotsOutput](t, cs, "snapshot_list", nil); snaps.Snapshots == nil {
		t.Errorf("snapshot_list: want an empty list, not null")
	}
	if got := ok[DeleteOutput](t, cs, "sandbox_delete", map[string]any{"sandbox_id": id}); got.Deleted != id {
		t.Errorf("sandbox_delete = %+v", got)
	}
	pl := ok[PluginListOutput](t, cs, "plugin_list", nil)
	if len(pl.Plugins) != 0 || pl.Note == "" {
		t.Errorf("plugin_list = %+v, want no plugins and a note", pl)
	}
}

func TestExec(t *testing.T) {
	_, cs := connect(t, newFakeEngine(t), nil, nil)
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)

	res := call(t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	var out ExecOutput
	data, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(data, &out)
	if res.IsError || out.ExitCode != 3 || out.Stdout != "out\n" || out.Stderr != "err\n" {
		t.Fatalf("exec = %+v (isError %v), want exit 3, out, err", out, res.IsError)
	}
	text := resultText(res)
	for _, w := range []string{"exit_code: 3", "--- stdout ---\nout\n", "--- stderr ---\nerr\n"} {
		if !strings.Contains(text, w) {
			t.Errorf("text %q does not contain %q", text, w)
		}
	}

	t.Run("truncation", func(t *testing.T) {
		res := call(t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "seq 1 10000"}, "max_output_bytes": 100})
		out := ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "seq 1 10000"}, "max_output_bytes": 100})
		if !out.StdoutTruncated || len(out.Stdout) > 100 {
			t.Errorf("stdout %d bytes, truncated %v; want at most 100 and truncated", len(out.Stdout), out.StdoutTruncated)
		}
		if !strings.Contains(resultText(res), "[stdout truncated") {
			t.Errorf("text %q has no truncation marker", resultText(res))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		res := call(t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sleep", "100"}, "timeout_s": 1})
		out := ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sleep", "100"}, "timeout_s": 1})
		if !out.TimedOut {
			t.Errorf("exec = %+v, want timed_out", out)
		}
		if !strings.Contains(resultText(res), "[timed out after 1s") {
			t.Errorf("text %q has no timeout marker", resultText(res))
		}
	})
	t.Run("stdin and env", func(t *testing.T) {
		out := ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "read x; echo $x-$V"},
			"stdin": "hello\n", "env": map[string]string{"V": "v"}, "cwd": "/"})
		if out.Stdout != "hello-v\n" {
			t.Errorf("stdout = %q, want hello-v", out.Stdout)
		}
	})
}

func TestExecProgress(t *testing.T) {
	var mu sync.Mutex
	var msgs []string
	var last float64
	monotonic := true
	_, cs := connect(t, newFakeEngine(t), nil, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			if req.Params.Progress < last {
				monotonic = false
			}
			last = req.Params.Progress
			msgs = append(msgs, req.Params.Message)
		},
	})
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
	params := &sdk.CallToolParams{Name: "sandbox_exec", Arguments: map[string]any{"sandbox_id": id,
		"cmd": []string{"sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"}}}
	params.SetProgressToken("tok-1")
	res, err := cs.CallTool(context.Background(), params)
	if err != nil || res.IsError {
		t.Fatalf("exec: %v %s", err, resultText(res))
	}
	mu.Lock()
	defer mu.Unlock()
	// Progress for a call is sent before its result.
	if len(msgs) == 0 || msgs[len(msgs)-1] != "line 3" {
		t.Fatalf("progress messages %q, want the last to be \"line 3\"", msgs)
	}
	if !monotonic || last != float64(len("line 1\nline 2\nline 3\n")) {
		t.Errorf("progress %v (monotonic %v), want the output byte count", last, monotonic)
	}
}

func TestExecCancelKillsProcess(t *testing.T) {
	_, cs := connect(t, newFakeEngine(t), nil, nil)
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "sandbox_exec", Arguments: map[string]any{"sandbox_id": id,
			"cmd": []string{"sh", "-c", "echo $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + " && exec sleep 1000"}}})
		done <- err
	}()
	pid := waitPID(t, pidFile)
	cancel()
	if err := <-done; err == nil {
		t.Fatalf("cancelled call returned no error")
	}
	// The guest (here: this host) kills the process group once the
	// cancellation reaches it; wait for that, bounded by the test timeout.
	for syscall.Kill(pid, 0) == nil {
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			break // a zombie waiting for its reaper is dead
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Another exec still works.
	if out := ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"true"}}); out.ExitCode != 0 {
		t.Errorf("exec after cancel = %+v", out)
	}
}

func waitPID(t *testing.T, file string) int {
	t.Helper()
	for {
		data, err := os.ReadFile(file)
		if err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFiles(t *testing.T) {
	_, cs := connect(t, newFakeEngine(t), nil, nil)
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "hello.txt")

	fi := ok[map[string]any](t, cs, "file_write", map[string]any{"sandbox_id": id, "path": path, "content": "héllo\n", "mode": "0600"})
	if fi["size"] != float64(len("héllo\n")) || fi["mode"] != "0600" {
		t.Errorf("file_write = %v", fi)
	}
	rd := ok[FileReadOutput](t, cs, "file_read", map[string]any{"sandbox_id": id, "path": path})
	if rd.Content != "héllo\n" || rd.Truncated {
		t.Errorf("file_read = %+v", rd)
	}
	// Ranges: truncated and next_offset say how to go on.
	rd = ok[FileReadOutput](t, cs, "file_read", map[string]any{"sandbox_id": id, "path": path, "length": 1})
	if rd.Content != "h" || !rd.Truncated || rd.NextOffset != 1 {
		t.Errorf("file_read length 1 = %+v", rd)
	}

	bin := []byte{0, 1, 2, 0xff, 0xfe}
	bpath := filepath.Join(dir, "bin")
	ok[map[string]any](t, cs, "file_write", map[string]any{"sandbox_id": id, "path": bpath, "content": base64.StdEncoding.EncodeToString(bin), "encoding": "base64"})
	res := call(t, cs, "file_read", map[string]any{"sandbox_id": id, "path": bpath})
	if !res.IsError || !strings.Contains(resultText(res), "encoding=base64") {
		t.Errorf("reading binary as text: %q, want an error that suggests base64", resultText(res))
	}
	rd = ok[FileReadOutput](t, cs, "file_read", map[string]any{"sandbox_id": id, "path": bpath, "encoding": "base64"})
	if got, _ := base64.StdEncoding.DecodeString(rd.Content); string(got) != string(bin) || rd.Encoding != "base64" {
		t.Errorf("file_read base64 = %+v", rd)
	}

	list := ok[map[string]any](t, cs, "file_list", map[string]any{"sandbox_id": id, "path": dir, "recursive": true})
	var names []string
	for _, e := range list["entries"].([]any) {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	if diff := cmp.Diff([]string{"bin", "sub", "hello.txt"}, names); diff != "" {
		t.Errorf("file_list names (-want +got):\n%s", diff)
	}
	ok[RemoveOutput](t, cs, "file_remove", map[string]any{"sandbox_id": id, "path": filepath.Join(dir, "sub"), "recursive": true})
	if _, err := os.Stat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("after file_remove: %v", err)
	}
}

func TestProcesses(t *testing.T) {
	_, cs := connect(t, newFakeEngine(t), nil, nil)
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
	p := ok[map[string]any](t, cs, "process_start", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "while read l; do echo got $l; done; echo bye; exit 4"}})
	pid, _ := p["id"].(string)
	if pid == "" {
		t.Fatalf("process_start = %v", p)
	}
	ref := map[string]any{"sandbox_id": id, "process_id": pid}
	ok[OKOutput](t, cs, "process_write", map[string]any{"sandbox_id": id, "process_id": pid, "data": "a\n", "close_stdin": true})
	var stdout string
	var offset int64
	for {
		out := ok[ProcessOutput](t, cs, "process_read", map[string]any{"sandbox_id": id, "process_id": pid, "offset": offset, "wait_s": 5})
		stdout += out.Stdout
		offset = out.NextOffset
		if out.Done {
			if out.ExitCode == nil || *out.ExitCode != 4 {
				t.Errorf("exit code = %v, want 4", out.ExitCode)
			}
			break
		}
	}
	if stdout != "got a\nbye\n" {
		t.Errorf("stdout = %q", stdout)
	}
	ok[map[string]any](t, cs, "process_delete", ref)

	// Signals reach a running process.
	p = ok[map[string]any](t, cs, "process_start", map[string]any{"sandbox_id": id, "cmd": []string{"sleep", "1000"}})
	ref = map[string]any{"sandbox_id": id, "process_id": p["id"]}
	ok[OKOutput](t, cs, "process_signal", map[string]any{"sandbox_id": id, "process_id": p["id"], "signal": "KILL"})
	for {
		out := ok[ProcessOutput](t, cs, "process_read", map[string]any{"sandbox_id": id, "process_id": p["id"], "wait_s": 5})
		if out.Done {
			if out.Signal != "KILL" {
				t.Errorf("signal = %q, want KILL", out.Signal)
			}
			break
		}
	}
}
