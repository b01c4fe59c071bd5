package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/store"
)

// hostileCase is one hostile request to one operation.
type hostileCase struct {
	class, op, method, path, ctype string
	body                           string
}

// openAPIOp is what the hostile test reads of an operation.
type openAPIOp struct {
	Parameters []struct {
		Name   string         `json:"name"`
		In     string         `json:"in"`
		Schema map[string]any `json:"schema"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema map[string]any `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
}

// hostileCases builds, from the served OpenAPI document, hostile inputs of
// every class for every operation: malformed JSON, oversized bodies and
// strings, wrong types, path traversal and integer overflow, in its path
// and query parameters and its JSON body's fields. New routes are covered
// as they are documented.
func hostileCases(t *testing.T, e *env, id string) []hostileCase {
	t.Helper()
	var doc struct {
		Paths      map[string]map[string]openAPIOp `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	want(t, e.do("GET", "/openapi.json", nil), http.StatusOK, &doc)
	resolve := func(s map[string]any) map[string]any {
		if ref, ok := s["$ref"].(string); ok {
			return doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		}
		return s
	}
	valid := map[string]string{"id": id, "port": "80", "path": "x", "plugin": "p", "action": "a", "name": "x", "ref": "x"}
	var out []hostileCase
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for method, op := range doc.Paths[p] {
			method = strings.ToUpper(method)
			name := method + " " + p
			proxied := strings.Contains(p, "/ports/{port}/")
			build := func(params map[string]string, query url.Values) string {
				u := p
				for _, prm := range op.Parameters {
					if prm.In == "path" {
						v, ok := params[prm.Name]
						if !ok {
							v = valid[prm.Name]
						}
						u = strings.ReplaceAll(u, "{"+prm.Name+"}", v)
					}
				}
				if len(query) > 0 {
					u += "?" + query.Encode()
				}
				return u
			}
			add := func(class, path, ctype, body string) {
				out = append(out, hostileCase{class: class, op: name, method: method, path: path, ctype: ctype, body: body})
			}
			for _, prm := range op.Parameters {
				typ, _ := prm.Schema["type"].(string)
				switch prm.In {
				case "path":
					if prm.Name == "path" {
						continue // the guest's own path: anything goes
					}
					add("traversal", build(map[string]string{prm.Name: "..%2F..%2Fetc%2Fpasswd"}, nil), "", "")
					add("oversized string", build(map[string]string{prm.Name: strings.Repeat("a", 8<<10)}, nil), "", "")
					if typ == "integer" {
						add("integer overflow", build(map[string]string{prm.Name: "9223372036854775808"}, nil), "", "")
						add("wrong type", build(map[string]string{prm.Name: "eighty"}, nil), "", "")
					}
				case "query":
					if proxied {
						continue
					}
					if typ == "integer" {
						add("integer overflow", build(nil, url.Values{prm.Name: {"99999999999999999999"}}), "", "")
						add("integer overflow", build(nil, url.Values{prm.Name: {"-9223372036854775809"}}), "", "")
						add("wrong type", build(nil, url.Values{prm.Name: {"many"}}), "", "")
					}
					if typ == "boolean" {
						add("wrong type", build(nil, url.Values{prm.Name: {"perhaps"}}), "", "")
					}
					if prm.Name == "path" {
						add("traversal", build(nil, url.Values{prm.Name: {"../../../etc/passwd"}}), "", "")
					}
					if typ == "string" {
						add("oversized string", build(nil, url.Values{prm.Name: {strings.Repeat("b", 64<<10)}}), "", "")
					}
				}
			}
			if op.RequestBody == nil || proxied {
				continue
			}
			js, ok := op.RequestBody.Content["application/json"]
			if !ok {
				continue
			}
			u := build(nil, nil)
			add("malformed JSON", u, "application/json", `{"x":`)
			add("malformed JSON", u, "application/json", "\x00\xff")
			add("wrong type", u, "application/json", `[]`)
			add("wrong type", u, "application/json", `"a string"`)
			add("oversized body", u, "application/json", `{"name":"`+strings.Repeat("c", 12<<20)+`"}`)
			schema := resolve(js.Schema)
			props, _ := schema["properties"].(map[string]any)
			for field, ps := range props {
				s := resolve(ps.(map[string]any))
				typ, _ := s["type"].(string)
				body := func(v string) string { return fmt.Sprintf(`{%q:%s}`, field, v) }
				switch typ {
				case "integer", "number":
					add("integer overflow", u, "application/json", body("9223372036854775808"))
					add("integer overflow", u, "application/json", body("-1e300"))
					add("wrong type", u, "application/json", body(`"12"`))
				case "string":
					add("wrong type", u, "application/json", body("12"))
					add("oversized string", u, "application/json", body(`"`+strings.Repeat("d", 1<<20)+`"`))
					if strings.Contains(field, "path") || field == "cwd" || field == "dir" {
						add("traversal", u, "application/json", body(`"../../../etc/passwd"`))
					}
				case "boolean":
					add("wrong type", u, "application/json", body(`"yes"`))
				case "array":
					add("wrong type", u, "application/json", body(`{}`))
				case "object":
					add("wrong type", u, "application/json", body(`[1]`))
				}
			}
		}
	}
	return out
}

// TestHostileInputs sends every hostile case and expects a 4xx problem
// document with a message, never a 5xx or a hang; it reports the counts
// per class.
func TestHostileInputs(t *testing.T) {
	st, err := oci.Open(oci.Config{Dir: t.TempDir(), InUse: func(string) (int, error) { return 0, nil }})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := plugins.Open(context.Background(), plugins.Config{Store: db, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The real registry and image service: their rules, not a fake's.
	e := newEnv(t, func(o *rest.Options) {
		o.Plugins = reg
		o.Images = sandbox.NewImageService(st, &recordingPublisher{}, nil)
	})
	id := e.sandbox(t)
	cases := hostileCases(t, e, id)
	type tally struct{ tried, c4xx, c5xx int }
	counts := map[string]*tally{}
	ops := map[string]bool{}
	for _, c := range cases {
		ops[c.op] = true
		tl := counts[c.class]
		if tl == nil {
			tl = &tally{}
			counts[c.class] = tl
		}
		tl.tried++
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang, not a timing
		req, err := http.NewRequestWithContext(ctx, c.method, e.srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Errorf("%s %s (%s): %v", c.op, clip(c.path), c.class, err)
			continue
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		cancel()
		switch {
		case resp.StatusCode >= 500:
			tl.c5xx++
			t.Errorf("%s %s (%s, body %s): %d %s", c.op, clip(c.path), c.class, clip(c.body), resp.StatusCode, clip(string(data)))
			continue
		case resp.StatusCode >= 400:
			tl.c4xx++
		default:
			t.Errorf("%s %s (%s, body %s): %d, want a 4xx", c.op, clip(c.path), c.class, clip(c.body), resp.StatusCode)
			continue
		}
		var p struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(data, &p) != nil || p.Detail == "" {
			t.Errorf("%s (%s): %d answer is not a problem with a detail: %s", c.op, c.class, resp.StatusCode, clip(string(data)))
		}
		if len(p.Detail) > 4096 {
			t.Errorf("%s (%s): a detail of %d bytes echoes the input", c.op, c.class, len(p.Detail))
		}
	}
	classes := make([]string, 0, len(counts))
	for k := range counts {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	for _, k := range classes {
		c := counts[k]
		t.Logf("REST %-17s tried %4d  4xx %4d  5xx %d", k, c.tried, c.c4xx, c.c5xx)
	}
	t.Logf("REST: %d cases over %d operations", len(cases), len(ops))
	if len(ops) < 40 {
		t.Errorf("only %d operations got hostile inputs", len(ops))
	}
}

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}
