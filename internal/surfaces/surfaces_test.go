// Package surfaces_test runs each engine rule through every surface (REST,
// MCP and the Go client, package apiclient) and checks that they answer the
// same: the same request fails or succeeds everywhere, with the engine's
// message and, where the surface carries it, the engine's error class.
package surfaces_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/mcp"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxfake"
)

// answer is what a surface made of a request: whether it failed, and the
// engine's message (without the surface's rendering of remedies).
type answer struct {
	failed  bool
	message string
	// class is the errdefs class of the failure, for the surfaces that
	// carry one (REST by its status, the Go client by errors.Is); nil
	// where the surface has none (MCP).
	class error
	// skipped says why the surface cannot express the call.
	skipped string
	// body is the successful answer, decoded, for checks of values.
	body map[string]any
}

// call is one request in each surface's terms.
type call struct {
	// REST: method, path (with query) and JSON body.
	method, path string
	body         any
	// MCP: tool and arguments.
	tool string
	args map[string]any
	// Go client: the method call, answering the value it decoded (or
	// nil) and its error. Nil with skip set when the client's types
	// cannot express the request (skip says why).
	client func(ctx context.Context, c *apiclient.Client) (any, error)
	skip   string
}

// surface runs a call.
type surface func(t *testing.T, c call) answer

type env struct {
	rest, mcp, client surface
	// sandboxID is running, stoppedID stopped.
	sandboxID, stoppedID string
}

// classes are the errdefs classes a test row may expect.
var classes = []error{errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrConflict,
	errdefs.ErrUnavailable, errdefs.ErrResourceExhausted, errdefs.ErrUnauthenticated}

// classOf returns the class err is of, or nil.
func classOf(err error) error {
	for _, c := range classes {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// statusClass is the class REST maps to status (rest/errors.go).
func statusClass(status int) error {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return errdefs.ErrInvalidArgument
	case http.StatusUnauthorized:
		return errdefs.ErrUnauthenticated
	case http.StatusNotFound:
		return errdefs.ErrNotFound
	case http.StatusConflict:
		return errdefs.ErrConflict
	case http.StatusTooManyRequests:
		return errdefs.ErrResourceExhausted
	case http.StatusServiceUnavailable:
		return errdefs.ErrUnavailable
	}
	return nil
}

func newEnv(t *testing.T) *env {
	eng := sandboxfake.New(t)
	st := authtest.NewStore()
	a := auth.New(st, nil)
	tok, _, err := a.Create(context.Background(), "test", auth.CreateOptions{Scope: auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rest.New(rest.Options{Manager: eng, Auth: a}))
	t.Cleanup(srv.Close)

	ms := mcp.New(mcp.Options{Manager: eng})
	t.Cleanup(func() { ms.Close() })
	ct, st2 := sdk.NewInMemoryTransports()
	ss, err := ms.SDK().Connect(context.Background(), st2, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, nil).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })

	sb, err := eng.Create(context.Background(), sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := eng.Create(context.Background(), sandbox.Spec{Name: "stopped"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Stop(context.Background(), stopped.ID); err != nil {
		t.Fatal(err)
	}
	e := &env{sandboxID: sb.ID, stoppedID: stopped.ID}
	e.rest = func(t *testing.T, c call) answer {
		var rd io.Reader
		if c.body != nil {
			b, _ := json.Marshal(c.body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(c.method, srv.URL+c.path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 400 {
			var p struct{ Message, Detail string }
			_ = json.Unmarshal(data, &p)
			return answer{failed: true, message: p.Message, class: statusClass(resp.StatusCode)}
		}
		var body map[string]any
		_ = json.Unmarshal(data, &body)
		return answer{body: body}
	}
	e.mcp = func(t *testing.T, c call) answer {
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			t.Fatalf("%s: %v", c.tool, err)
		}
		if res.IsError {
			text := res.Content[0].(*sdk.TextContent).Text
			return answer{failed: true, message: strings.TrimPrefix(text, "invalid arguments: ")}
		}
		var body map[string]any
		b, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(b, &body)
		return answer{body: body}
	}
	ac, err := apiclient.New(apiclient.Options{BaseURL: srv.URL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	e.client = func(t *testing.T, c call) answer {
		if c.client == nil {
			return answer{skipped: c.skip}
		}
		v, err := c.client(context.Background(), ac)
		if err != nil {
			var ae *apiclient.Error
			if !errors.As(err, &ae) {
				t.Fatalf("client: %v is no *apiclient.Error", err)
			}
			return answer{failed: true, message: ae.Message, class: classOf(err)}
		}
		var body map[string]any
		b, _ := json.Marshal(v)
		_ = json.Unmarshal(b, &body)
		return answer{body: body}
	}
	return e
}

// decode turns a row's JSON arguments into the engine's request type, as
// a Go caller would write it.
func decode[T any](t *testing.T, m map[string]any) T {
	var v T
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s into %T: %v", b, v, err)
	}
	return v
}

func TestSameAnswerEverywhere(t *testing.T) {
	e := newEnv(t)
	id := e.sandboxID
	long := strings.Repeat("a", 1<<20)
	files := "/v1/sandboxes/" + id + "/files"
	create := func(body map[string]any) call {
		return call{method: "POST", path: "/v1/sandboxes", body: body, tool: "sandbox_create", args: body,
			client: func(ctx context.Context, c *apiclient.Client) (any, error) {
				return c.CreateSandbox(ctx, decode[sandbox.Spec](t, body))
			}}
	}
	exec := func(body map[string]any) call {
		args := map[string]any{"sandbox_id": id}
		for k, v := range body {
			args[k] = v
		}
		return call{method: "POST", path: "/v1/sandboxes/" + id + "/exec", body: body, tool: "sandbox_exec", args: args,
			client: func(ctx context.Context, c *apiclient.Client) (any, error) {
				return c.Exec(ctx, id, decode[sandbox.ExecCommand](t, body).Request())
			}}
	}
	fork := func(n int) call {
		return call{method: "POST", path: "/v1/sandboxes/" + id + "/fork", body: map[string]any{"count": n},
			tool: "sandbox_fork", args: map[string]any{"sandbox_id": id, "count": n},
			client: func(ctx context.Context, c *apiclient.Client) (any, error) { return c.ForkSandbox(ctx, id, n) }}
	}
	list := func(sbID, path string) call {
		return call{method: "GET", path: "/v1/sandboxes/" + sbID + "/files/list?path=" + path,
			tool: "file_list", args: map[string]any{"sandbox_id": sbID, "path": path},
			client: func(ctx context.Context, c *apiclient.Client) (any, error) {
				return c.ListFiles(ctx, sbID, path, client.ListOptions{})
			}}
	}
	invalid, notFound, conflict := errdefs.ErrInvalidArgument, errdefs.ErrNotFound, errdefs.ErrConflict
	tests := []struct {
		name   string
		call   call
		failed bool
		// class is the failure's errdefs class.
		class error
		// want is part of the engine's message, or of the answer's value
		// at key when the call succeeds.
		want, key string
	}{
		{"memory below the minimum", create(map[string]any{"memory_mib": 64}), true, invalid, "memory_mib 64: must be between 128 and 4096", ""},
		{"vcpus above the limit", create(map[string]any{"vcpus": 99}), true, invalid, "vcpus 99: must be between 1 and 4", ""},
		{"negative vcpus", create(map[string]any{"vcpus": -1}), true, invalid, "vcpus -1", ""},
		// MCP's SDK carries numbers as float64, so the largest exact value
		// is 2^53; rest/'s tests also send 9223372036854775807.
		{"idle timeout that would overflow", create(map[string]any{"idle_timeout_s": int64(1) << 52}), true, invalid, "idle_timeout_s 4503599627370496: must be between 0", ""},
		{"ttl above the limit", create(map[string]any{"ttl_s": 1 << 30}), true, invalid, "ttl_s 1073741824", ""},
		{"snapshot and cold boot exclude each other", create(map[string]any{"from_snapshot": "snap-1", "cold_boot": true}), true, invalid, "from_snapshot and cold_boot exclude each other", ""},
		{"bad name", create(map[string]any{"name": "Not_A_Label"}), true, invalid, "name \"Not_A_Label\": use 1-63 lowercase", ""},
		{"bad network", create(map[string]any{"network": "wifi"}), true, invalid, "network \"wifi\": use bridge, user or none", ""},
		{"unknown snapshot", create(map[string]any{"from_snapshot": "snap-nope"}), true, notFound, "snapshot \"snap-nope\" not found", ""},
		{"default runtime", create(map[string]any{}), false, nil, "default", "runtime"},
		{"fork count above 100", fork(101), true, invalid, "count 101: fork between 1 and 100 clones", ""},
		{"negative fork count", fork(-1), true, invalid, "count -1", ""},
		{"empty command", exec(map[string]any{"cmd": []string{}}), true, invalid, "cmd: give the command as a non-empty argv array", ""},
		{"relative cwd", exec(map[string]any{"cmd": []string{"true"}, "cwd": "tmp"}), true, invalid, "cwd \"tmp\": must be an absolute path", ""},
		{"exec timeout above a day", exec(map[string]any{"cmd": []string{"true"}, "timeout_s": 86401}), true, invalid, "timeout_s: must be between 0 (default 60) and 86400 seconds", ""},
		{"mode 0000 is mode 0", call{method: "PUT", path: files + "?path=/tmp/zero&mode=0000",
			tool: "file_write", args: map[string]any{"sandbox_id": id, "path": "/tmp/zero2", "content": "", "mode": "0000"},
			skip: "the client's WriteOptions.Mode 0 means keep the mode; it cannot ask for mode 0000"}, false, nil, "0000", "mode"},
		{"mode set", call{method: "PUT", path: files + "?path=/tmp/m1&mode=0600",
			tool: "file_write", args: map[string]any{"sandbox_id": id, "path": "/tmp/m2", "content": "", "mode": "0600"},
			client: func(ctx context.Context, c *apiclient.Client) (any, error) {
				return c.WriteFile(ctx, id, "/tmp/m3", strings.NewReader(""), 0, client.WriteOptions{Mode: 0o600})
			}}, false, nil, "0600", "mode"},
		{"mode not octal", call{method: "PUT", path: files + "?path=/tmp/m&mode=rwx",
			tool: "file_write", args: map[string]any{"sandbox_id": id, "path": "/tmp/m", "content": "", "mode": "rwx"},
			skip: "the client takes an fs.FileMode, never a mode string"}, true, invalid, "mode \"rwx\": use octal permission bits", ""},
		{"relative path", list(id, "etc"), true, invalid, "path \"etc\": must be absolute", ""},
		{"relative read path", call{method: "GET", path: files + "?path=etc/passwd",
			tool: "file_read", args: map[string]any{"sandbox_id": id, "path": "etc/passwd"},
			client: func(ctx context.Context, c *apiclient.Client) (any, error) {
				r, err := c.ReadFile(ctx, id, "etc/passwd", 0, 0)
				if err == nil {
					r.Close()
				}
				return nil, err
			}}, true, invalid, "path \"etc/passwd\": must be absolute", ""},
		{"remove the root", call{method: "DELETE", path: files + "?path=/&recursive=true",
			tool: "file_remove", args: map[string]any{"sandbox_id": id, "path": "/", "recursive": true},
			client: func(ctx context.Context, c *apiclient.Client) (any, error) {
				return nil, c.RemoveFile(ctx, id, "/", true)
			}},
			true, invalid, "path /: refusing to remove the root directory", ""},
		{"a sandbox id of 1 MiB", list(long, "/"), true, invalid, "sandbox id: 1048576 bytes is longer than 128", ""},
		{"unknown sandbox", list("sbx-nope", "/"), true, notFound, "sandbox \"sbx-nope\" not found", ""},
		{"files of a stopped sandbox", list(e.stoppedID, "/"), true, conflict, "sandbox " + e.stoppedID + " is stopped", ""},
		{"exec in a stopped sandbox", call{method: "POST", path: "/v1/sandboxes/" + e.stoppedID + "/exec", body: map[string]any{"cmd": []string{"true"}},
			tool: "sandbox_exec", args: map[string]any{"sandbox_id": e.stoppedID, "cmd": []string{"true"}},
			client: func(ctx context.Context, c *apiclient.Client) (any, error) {
				return c.Exec(ctx, e.stoppedID, sandbox.ExecRequest{Cmd: []string{"true"}})
			}}, true, conflict, "sandbox " + e.stoppedID + " is stopped", ""},
		{"duplicate name", create(map[string]any{"name": "stopped"}), true, conflict, "a sandbox named \"stopped\" exists already", ""},
	}
	surfaces := map[string]surface{"rest": e.rest, "mcp": e.mcp, "client": e.client}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]answer{}
			for name, s := range surfaces {
				a := s(t, tt.call)
				if a.skipped != "" {
					t.Logf("%s: not run: %s", name, a.skipped)
					continue
				}
				got[name] = a
				if a.failed != tt.failed {
					t.Errorf("%s: failed = %v (%q), want %v", name, a.failed, a.message, tt.failed)
					continue
				}
				if tt.failed && !strings.Contains(a.message, tt.want) {
					t.Errorf("%s: message %q, want it to contain %q", name, a.message, tt.want)
				}
				if tt.failed && name != "mcp" && a.class != tt.class {
					t.Errorf("%s: class %v, want %v", name, a.class, tt.class)
				}
				if !tt.failed && tt.key != "" {
					if v, _ := a.body[tt.key].(string); v != tt.want {
						t.Errorf("%s: %s = %v, want %q", name, tt.key, a.body[tt.key], tt.want)
					}
				}
				if len(a.message) > 1000 {
					t.Errorf("%s: a message of %d bytes echoes the input", name, len(a.message))
				}
			}
			if !tt.failed || got["rest"].message == "" {
				return
			}
			for _, name := range []string{"mcp", "client"} {
				if a, ok := got[name]; ok && !strings.HasPrefix(a.message, got["rest"].message) {
					t.Errorf("messages differ:\nrest:   %q\n%-7s %q", got["rest"].message, name+":", a.message)
				}
			}
		})
	}
}
