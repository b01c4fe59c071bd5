// Package surfaces_test runs each engine rule through every surface (REST,
// MCP, and the Go client once it exists) and checks that they answer the
// same: the same request fails or succeeds everywhere, with the engine's
// message.
package surfaces_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
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
}

// surface runs a call. The Go client (package apiclient) is the third
// surface: add it to surfaces() as one more func of this type, e.g.
// func(t, c) answer { err := client.Do(...); return answer{failed: err != nil, message: errMessage(err)} }.
type surface func(t *testing.T, c call) answer

type env struct {
	rest, mcp surface
	sandboxID string
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
	e := &env{sandboxID: sb.ID}
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
			return answer{failed: true, message: p.Message}
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
	return e
}

func TestSameAnswerEverywhere(t *testing.T) {
	e := newEnv(t)
	id := e.sandboxID
	long := strings.Repeat("a", 1<<20)
	files := "/v1/sandboxes/" + id + "/files"
	create := func(body map[string]any) call {
		return call{method: "POST", path: "/v1/sandboxes", body: body, tool: "sandbox_create", args: body}
	}
	exec := func(body map[string]any) call {
		args := map[string]any{"sandbox_id": id}
		for k, v := range body {
			args[k] = v
		}
		return call{method: "POST", path: "/v1/sandboxes/" + id + "/exec", body: body, tool: "sandbox_exec", args: args}
	}
	tests := []struct {
		name   string
		call   call
		failed bool
		// want is part of the engine's message, or of the answer's value
		// at key when the call succeeds.
		want, key string
	}{
		{"memory below the minimum", create(map[string]any{"memory_mib": 64}), true, "memory_mib 64: must be between 128 and 4096", ""},
		{"vcpus above the limit", create(map[string]any{"vcpus": 99}), true, "vcpus 99: must be between 1 and 4", ""},
		{"negative vcpus", create(map[string]any{"vcpus": -1}), true, "vcpus -1", ""},
		// MCP's SDK carries numbers as float64, so the largest exact value
		// is 2^53; rest/'s tests also send 9223372036854775807.
		{"idle timeout that would overflow", create(map[string]any{"idle_timeout_s": int64(1) << 52}), true, "idle_timeout_s 4503599627370496: must be between 0", ""},
		{"ttl above the limit", create(map[string]any{"ttl_s": 1 << 30}), true, "ttl_s 1073741824", ""},
		{"snapshot and cold boot exclude each other", create(map[string]any{"from_snapshot": "snap-1", "cold_boot": true}), true, "from_snapshot and cold_boot exclude each other", ""},
		{"bad name", create(map[string]any{"name": "Not_A_Label"}), true, "name \"Not_A_Label\": use 1-63 lowercase", ""},
		{"bad network", create(map[string]any{"network": "wifi"}), true, "network \"wifi\": use bridge, user or none", ""},
		{"default runtime", create(map[string]any{}), false, "default", "runtime"},
		{"fork count above 100", call{method: "POST", path: "/v1/sandboxes/" + id + "/fork", body: map[string]any{"count": 101},
			tool: "sandbox_fork", args: map[string]any{"sandbox_id": id, "count": 101}}, true, "count 101: fork between 1 and 100 clones", ""},
		{"negative fork count", call{method: "POST", path: "/v1/sandboxes/" + id + "/fork", body: map[string]any{"count": -1},
			tool: "sandbox_fork", args: map[string]any{"sandbox_id": id, "count": -1}}, true, "count -1", ""},
		{"empty command", exec(map[string]any{"cmd": []string{}}), true, "cmd: give the command as a non-empty argv array", ""},
		{"relative cwd", exec(map[string]any{"cmd": []string{"true"}, "cwd": "tmp"}), true, "cwd \"tmp\": must be an absolute path", ""},
		{"exec timeout above a day", exec(map[string]any{"cmd": []string{"true"}, "timeout_s": 86401}), true, "timeout_s: must be between 0 (default 60) and 86400 seconds", ""},
		{"mode 0000 is mode 0", call{method: "PUT", path: files + "?path=/tmp/zero&mode=0000",
			tool: "file_write", args: map[string]any{"sandbox_id": id, "path": "/tmp/zero2", "content": "", "mode": "0000"}}, false, "0000", "mode"},
		{"mode not octal", call{method: "PUT", path: files + "?path=/tmp/m&mode=rwx",
			tool: "file_write", args: map[string]any{"sandbox_id": id, "path": "/tmp/m", "content": "", "mode": "rwx"}}, true, "mode \"rwx\": use octal permission bits", ""},
		{"relative path", call{method: "GET", path: files + "/list?path=etc",
			tool: "file_list", args: map[string]any{"sandbox_id": id, "path": "etc"}}, true, "path \"etc\": must be absolute", ""},
		{"remove the root", call{method: "DELETE", path: files + "?path=/&recursive=true",
			tool: "file_remove", args: map[string]any{"sandbox_id": id, "path": "/", "recursive": true}}, true, "path /: refusing to remove the root directory", ""},
		{"a sandbox id of 1 MiB", call{method: "GET", path: "/v1/sandboxes/" + long + "/files/list?path=/",
			tool: "file_list", args: map[string]any{"sandbox_id": long, "path": "/"}}, true, "sandbox id: 1048576 bytes is longer than 128", ""},
		{"unknown sandbox", call{method: "GET", path: "/v1/sandboxes/sbx-nope/files/list?path=/",
			tool: "file_list", args: map[string]any{"sandbox_id": "sbx-nope", "path": "/"}}, true, "sandbox \"sbx-nope\" not found", ""},
	}
	surfaces := map[string]surface{"rest": e.rest, "mcp": e.mcp}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string]answer{}
			for name, s := range surfaces {
				a := s(t, tt.call)
				got[name] = a
				if a.failed != tt.failed {
					t.Errorf("%s: failed = %v (%q), want %v", name, a.failed, a.message, tt.failed)
					continue
				}
				if tt.failed && !strings.Contains(a.message, tt.want) {
					t.Errorf("%s: message %q, want it to contain %q", name, a.message, tt.want)
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
			if tt.failed && got["rest"].message != "" && !strings.HasPrefix(got["mcp"].message, got["rest"].message) {
				t.Errorf("messages differ:\nrest: %q\nmcp:  %q", got["rest"].message, got["mcp"].message)
			}
		})
	}
}
