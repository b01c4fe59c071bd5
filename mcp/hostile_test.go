package mcp

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxfake"
	"github.com/volant-sh/volant/store"
)

// TestHostileToolInputs calls every tool of the served tool list with
// hostile arguments built from its input schema (arguments that are not
// an object, wrong types, oversized strings, integer overflow, path
// traversal) and expects a refusal with a clear, short message: a tool
// error (isError) or a protocol error, never a success, a panic or a hang.
func TestHostileToolInputs(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := plugins.Open(ctx, plugins.Config{Store: db, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := oci.Open(oci.Config{Dir: t.TempDir(), InUse: func(string) (int, error) { return 0, nil }})
	if err != nil {
		t.Fatal(err)
	}
	eng := sandboxfake.New(t)
	_, cs := connectOpts(t, Options{Manager: eng, Plugins: reg, Images: sandbox.NewImageService(st, nil, nil), Version: "test"}, nil)
	sb, err := eng.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}

	type call struct {
		class, tool string
		args        any
	}
	var calls []call
	for _, tool := range res.Tools {
		calls = append(calls, call{"malformed", tool.Name, []any{1, "x"}}, call{"malformed", tool.Name, "not an object"})
		var schema struct {
			Properties map[string]struct {
				Type any `json:"type"`
			} `json:"properties"`
		}
		data, _ := json.Marshal(tool.InputSchema)
		_ = json.Unmarshal(data, &schema)
		for field, ps := range schema.Properties {
			typ, _ := ps.Type.(string)
			if l, ok := ps.Type.([]any); ok && len(l) > 0 {
				typ, _ = l[0].(string)
			}
			with := func(v any) map[string]any {
				m := map[string]any{field: v}
				if _, ok := schema.Properties["sandbox_id"]; ok && field != "sandbox_id" {
					m["sandbox_id"] = sb.ID
				}
				return m
			}
			add := func(class string, v any) { calls = append(calls, call{class, tool.Name, with(v)}) }
			switch typ {
			case "integer", "number":
				add("integer overflow", json.Number("9223372036854775808"))
				add("integer overflow", json.Number("-1e300"))
				add("wrong type", "12")
			case "string":
				add("wrong type", 12)
				add("oversized string", strings.Repeat("s", 1<<20))
				if strings.Contains(field, "path") || field == "cwd" || strings.HasSuffix(field, "_id") {
					add("traversal", "../../../etc/passwd")
				}
			case "boolean":
				add("wrong type", "yes")
			case "array":
				add("wrong type", map[string]any{})
			case "object":
				add("wrong type", []any{1})
			}
		}
	}

	type tally struct{ tried, toolErr, protoErr, accepted int }
	counts := map[string]*tally{}
	for _, c := range calls {
		tl := counts[c.class]
		if tl == nil {
			tl = &tally{}
			counts[c.class] = tl
		}
		tl.tried++
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a hang, not a timing
		r, err := cs.CallTool(cctx, &sdk.CallToolParams{Name: c.tool, Arguments: c.args})
		cancel()
		var msg string
		switch {
		case err != nil:
			tl.protoErr++
			msg = err.Error()
		case r.IsError:
			tl.toolErr++
			for _, ct := range r.Content {
				if tc, ok := ct.(*sdk.TextContent); ok {
					msg += tc.Text
				}
			}
		default:
			tl.accepted++
			t.Errorf("%s (%s) with %s: accepted, want a refusal", c.tool, c.class, clipArgs(c.args))
			continue
		}
		if strings.TrimSpace(msg) == "" {
			t.Errorf("%s (%s): refused with no message", c.tool, c.class)
		}
		if len(msg) > 4096 {
			t.Errorf("%s (%s): a message of %d bytes echoes the input: %s", c.tool, c.class, len(msg), clipArgs(msg))
		}
		if strings.Contains(msg, "internal error") || strings.Contains(msg, "panic") {
			t.Errorf("%s (%s): %s", c.tool, c.class, clipArgs(msg))
		}
	}
	classes := make([]string, 0, len(counts))
	for k := range counts {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	for _, k := range classes {
		c := counts[k]
		t.Logf("MCP %-17s tried %4d  isError %4d  protocol error %4d  accepted %d", k, c.tried, c.toolErr, c.protoErr, c.accepted)
	}
	t.Logf("MCP: %d calls over %d tools", len(calls), len(res.Tools))
}

func clipArgs(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 160 {
		return string(b[:160]) + "..."
	}
	return string(b)
}
