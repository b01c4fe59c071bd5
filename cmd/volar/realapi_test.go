package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxfake"
)

// newRealAPI serves rest.New over the shared fake engine
// (sandbox/sandboxfake: sandboxes sb1, sb2, ... whose agent is kestrel's
// real handlers on this host) and returns the server and an admin token;
// opts may change the API's options. With it, volar talks to the real
// REST handler (Huma's validation, problem documents, streaming routes)
// without booting a guest. Plugin actions answer what they were called
// with, or fail as the action's name says: "off" as a disabled plugin,
// "bad" as input the schema rejects.
func newRealAPI(t *testing.T, opts ...func(*rest.Options)) (*httptest.Server, string) {
	t.Helper()
	eng := sandboxfake.New(t)
	eng.IDPrefix = "sb"
	eng.Console = []byte("boot 1\nboot 2\nlogin:\n")
	eng.Info = &sandbox.SystemInfo{Version: "test", Driver: "qemu", Accel: "kvm"}
	eng.OnAction = func(_ context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
		switch action {
		case "off":
			return nil, errdefs.Conflict("plugin %s is disabled: enable it with 'volar plugin enable %s'", plugin, plugin)
		case "bad":
			return nil, errdefs.Invalid("input.n: expected an integer")
		}
		return json.Marshal(map[string]any{"sandbox": id, "plugin": plugin, "action": action, "input": input})
	}
	onJSON := eng.OnAction
	eng.OnActionAnswer = func(ctx context.Context, id, plugin, action string, input json.RawMessage, opts sandbox.ActionOptions) (*sandbox.ActionAnswer, error) {
		switch action {
		case "shot":
			return &sandbox.ActionAnswer{ContentType: "image/png", Body: []byte("\x89PNG fake")}, nil
		case "ticks":
			if opts.Progress != nil {
				opts.Progress(sandbox.ActionProgress{Line: json.RawMessage(`{"type":"progress","stream":"stdout","message":"tick 1\n"}`)})
			}
			return &sandbox.ActionAnswer{ContentType: "application/json", Body: []byte(`{"type":"result","result":"done"}`)}, nil
		}
		out, err := onJSON(ctx, id, plugin, action, input)
		if err != nil {
			return nil, err
		}
		return &sandbox.ActionAnswer{ContentType: "application/json", Body: out}, nil
	}
	a := auth.New(authtest.NewStore(), nil)
	tok, _, err := a.Create(context.Background(), "admin", auth.CreateOptions{Scope: auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	o := rest.Options{Manager: eng, Auth: a}
	for _, f := range opts {
		f(&o)
	}
	srv := httptest.NewServer(rest.New(o))
	t.Cleanup(srv.Close)
	return srv, tok
}

func TestAgainstTheRealHandler(t *testing.T) {
	srv, tok := newRealAPI(t)
	type result struct {
		code      int
		out, errs string
	}
	r := func(stdin string, args ...string) result {
		var out, errb bytes.Buffer
		code := run(append([]string{"--addr", srv.URL, "--token", tok}, args...), strings.NewReader(stdin), &out, &errb)
		return result{code, out.String(), errb.String()}
	}
	v := func(stdin string, args ...string) (int, string, string) {
		res := r(stdin, args...)
		return res.code, res.out, res.errs
	}
	expect := func(wantCode int, wantOut string, res result) {
		t.Helper()
		if res.code != wantCode || (wantOut != "*" && res.out != wantOut) {
			t.Errorf("got exit %d, stdout %q, stderr %q; want exit %d, stdout %q", res.code, res.out, res.errs, wantCode, wantOut)
		}
	}

	expect(0, "sb1\n", r("", "sandbox", "create", "-q", "--label", "team=a", "--ttl", "90s"))
	expect(0, "sb1\n", r("", "sandbox", "ls", "-q", "--state", "running", "--label", "team=a"))
	expect(0, "", r("", "sandbox", "ls", "-q", "--label", "team=b"))
	code, _, errs := v("", "sandbox", "ls", "--state", "sleeping")
	if code != 1 || !strings.Contains(errs, "query.state[0]: expected value to be one of") {
		t.Errorf("bad state: exit %d, stderr %q; want 1 and Huma's validation message", code, errs)
	}

	expect(3, "out\n", r("", "exec", "sb1", "--", "sh", "-c", "echo out; echo err >&2; exit 3"))
	expect(0, "piped\n", r("piped\n", "exec", "--stdin", "sb1", "cat"))
	expect(0, "A=1\n", r("", "exec", "--env", "A=1", "sb1", "sh", "-c", "echo A=$A"))
	expect(4, "live\n", r("", "exec", "--stream", "sb1", "sh", "-c", "echo live; exit 4"))
	expect(0, "streamed stdin\n", r("streamed stdin\n", "exec", "--stream", "-i", "sb1", "cat"))
	code, _, errs = v("", "exec", "--timeout", "1s", "sb1", "sleep", "5")
	if code != 124 || !strings.Contains(errs, "timed out") {
		t.Errorf("timeout: exit %d, stderr %q; want 124", code, errs)
	}

	// Files: the "guest" is this host, so guest paths are temp paths.
	dir := t.TempDir()
	local := filepath.Join(dir, "local.txt")
	os.WriteFile(local, []byte("content\n"), 0o600)
	guest := filepath.Join(dir, "guest")
	expect(0, "*", r("", "cp", local, "sb1:"+guest+"/"))
	expect(0, "content\n", r("", "cat", "sb1:"+guest+"/local.txt"))
	expect(0, "local.txt\n", r("", "ls", "-q", "sb1:"+guest))
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "f"), []byte("deep"), 0o644)
	os.Symlink("sub/f", filepath.Join(tree, "link"))
	expect(0, "*", r("", "cp", tree, "sb1:"+guest+"/tree"))
	expect(0, "*", r("", "cp", "sb1:"+guest+"/tree", filepath.Join(dir, "back")))
	if b, err := os.ReadFile(filepath.Join(dir, "back", "link")); err != nil || string(b) != "deep" {
		t.Errorf("round trip through the tar routes: link reads %q, %v; want deep", b, err)
	}
	code, _, errs = v("", "rm-file", "sb1:"+guest+"/tree")
	if code != 1 || errs == "" {
		t.Errorf("rm-file of a non-empty dir without -r: exit %d, stderr %q; want 1 and the agent's reason", code, errs)
	}
	expect(0, "", r("", "rm-file", "-r", "sb1:"+guest+"/tree"))
	if _, err := os.Stat(filepath.Join(guest, "tree")); !os.IsNotExist(err) {
		t.Errorf("rm-file -r left the tree: %v", err)
	}

	expect(0, "login:\n", r("", "logs", "sb1", "--tail", "1"))

	expect(0, "sb1 paused\n", r("", "sandbox", "pause", "sb1"))
	code, _, errs = v("", "exec", "sb1", "true")
	if code != 1 || errs != "volar: sandbox sb1 is paused; resume it first (volar sandbox resume sb1)\n" {
		t.Errorf("exec in a paused sandbox: exit %d, stderr %q", code, errs)
	}
	expect(0, "sb1 running\n", r("", "sandbox", "resume", "sb1"))

	code, secret, _ := v("", "token", "create", "-q", "ci")
	secret = strings.TrimSpace(secret)
	if code != 0 || !strings.HasPrefix(secret, "vol_") {
		t.Fatalf("token create: exit %d, %q", code, secret)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"--addr", srv.URL, "--token", secret, "system"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "kvm") {
		t.Errorf("system with the new token: exit %d, %q %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"--addr", srv.URL, "--token", "vol_bogus", "system"}, nil, &out, &errb); code != 1 || !strings.HasPrefix(errb.String(), "volar: ") {
		t.Errorf("bad token: exit %d, stderr %q", code, errb.String())
	}

	expect(0, "sb1\n", r("", "sandbox", "rm", "sb1"))
	code, _, errs = v("", "sandbox", "get", "sb1")
	if code != 1 || errs != "volar: sandbox \"sb1\" not found; list sandboxes to see the ids (volar sandbox ls)\n" {
		t.Errorf("get after rm: exit %d, stderr %q", code, errs)
	}
}
