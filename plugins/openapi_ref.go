package plugins

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	// maxRefDepth bounds how many $refs may be followed inside one another.
	maxRefDepth = 32
	// maxInlined bounds how many JSON values inlining one document may
	// produce, so that refs to refs cannot blow up.
	maxInlined = 1 << 18
)

// refResolver inlines the local $refs of an OpenAPI document.
type refResolver struct {
	root    map[string]any
	inlined int
}

// inline returns a copy of v with every $ref replaced by what it points
// to. stack holds the refs being inlined, to find cycles. Keys beside a
// $ref (allowed in OpenAPI 3.1) override those of its target.
func (r *refResolver) inline(v any, stack []string) (any, error) {
	r.inlined++
	if r.inlined > maxInlined {
		return nil, fmt.Errorf("its schemas expand to more than %d values once $refs are inlined; simplify them", maxInlined)
	}
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			return r.inlineRef(ref, v, stack)
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			x, err := r.inline(e, stack)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			x, err := r.inline(e, stack)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	}
	return v, nil
}

func (r *refResolver) inlineRef(ref string, holder map[string]any, stack []string) (any, error) {
	if slices.Contains(stack, ref) {
		cycle := append(slices.Clone(stack[slices.Index(stack, ref):]), ref)
		return nil, fmt.Errorf("$ref cycle %s; actions need schemas without recursion, so break the cycle (for example with a plain {\"type\":\"object\"})", strings.Join(cycle, " → "))
	}
	if len(stack) >= maxRefDepth {
		return nil, fmt.Errorf("$refs nest more than %d deep (at %s); flatten them", maxRefDepth, ref)
	}
	target, err := r.lookup(ref)
	if err != nil {
		return nil, err
	}
	res, err := r.inline(target, append(stack, ref))
	if err != nil {
		return nil, err
	}
	if len(holder) == 1 {
		return res, nil
	}
	m, ok := res.(map[string]any)
	if !ok {
		return res, nil
	}
	for k, e := range holder {
		if k == "$ref" {
			continue
		}
		x, err := r.inline(e, stack)
		if err != nil {
			return nil, err
		}
		m[k] = x
	}
	return m, nil
}

// shallow follows v's $refs, if any, without inlining what they point to.
func (r *refResolver) shallow(v any) (any, error) {
	for range maxRefDepth {
		m, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v, nil
		}
		next, err := r.lookup(ref)
		if err != nil {
			return nil, err
		}
		v = next
	}
	return nil, fmt.Errorf("$refs nest more than %d deep; flatten them", maxRefDepth)
}

// lookup finds what a local $ref ("#/components/schemas/Item") points to.
func (r *refResolver) lookup(ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local to the document; put the schema under #/components and refer to it as \"#/components/...\"", ref)
	}
	var cur any = r.root
	for _, tok := range strings.Split(ptr, "/") {
		if u, err := url.PathUnescape(tok); err == nil {
			tok = u
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("$ref %q points to nothing: no %q; fix the reference or add the component", ref, tok)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("$ref %q points to nothing: no item %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, errors.New("$ref " + strconv.Quote(ref) + " points into a value that is neither an object nor an array")
		}
	}
	return cur, nil
}

// fixSchema rewrites OpenAPI 3.0 schema keywords into JSON Schema 2020-12
// in place: "nullable": true adds "null" to the type, and boolean
// exclusiveMinimum/exclusiveMaximum become numbers. Values of other types
// under those names (property schemas, say) are left alone.
func fixSchema(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if n, ok := v["nullable"].(bool); ok {
			delete(v, "nullable")
			if t, ok := v["type"].(string); ok && n {
				v["type"] = []any{t, "null"}
			}
		}
		for _, kw := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
			if ex, ok := v[kw[0]].(bool); ok {
				delete(v, kw[0])
				if bound, ok := v[kw[1]]; ok && ex {
					v[kw[0]] = bound
					delete(v, kw[1])
				}
			}
		}
		for _, e := range v {
			fixSchema(e)
		}
	case []any:
		for _, e := range v {
			fixSchema(e)
		}
	}
	return v
}
