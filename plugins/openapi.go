package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// openAPIMethods are the operations that become actions, in the order
// actions are listed.
var openAPIMethods = []string{"get", "post", "put", "patch", "delete"}

// BodyProperty is the input property holding an OpenAPI request body that
// is not an object (see Action.Body).
const BodyProperty = "body"

// ActionsFromOpenAPI turns the operations of an OpenAPI 3.0 or 3.1
// document (JSON) into actions. Every operation (get, post, put, patch,
// delete) with an operationId becomes one, named after the operationId in
// snake_case; operations without one are skipped. Its input schema is an
// object of the path parameters (required), the query parameters (listed
// in Action.Query) and the application/json request body: an object
// body's properties are merged in, any other body goes under
// BodyProperty. Its output schema is the application/json schema of the
// first success response (200, 201, other 2xx, 2XX, then default). Local
// $refs are inlined; a non-local or cyclic $ref is an error. The error
// lists every problem, each naming the operation, and wraps
// errdefs.ErrInvalidArgument.
func ActionsFromOpenAPI(doc []byte) ([]Action, error) {
	root, err := decodeOpenAPI(doc)
	if err != nil {
		return nil, err
	}
	r := &refResolver{root: root}
	rawPaths, ok := root["paths"]
	if !ok {
		return nil, nil
	}
	paths, ok := rawPaths.(map[string]any)
	if !ok {
		return nil, errdefs.Invalid("the OpenAPI document's paths is not an object; map each path to its operations")
	}
	var (
		out   []Action
		errs  []error
		taken = make(map[string]string) // action name → operation
	)
	for _, p := range sortedKeys(paths) {
		item, err := r.shallow(paths[p])
		if err != nil {
			errs = append(errs, errdefs.Invalid("path %s: %v", p, err))
			continue
		}
		itemMap, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, errdefs.Invalid("path %s: is not an object; map methods to operations", p))
			continue
		}
		for _, method := range openAPIMethods {
			raw, ok := itemMap[method]
			if !ok {
				continue
			}
			where := strings.ToUpper(method) + " " + p
			op, ok := raw.(map[string]any)
			if !ok {
				errs = append(errs, errdefs.Invalid("%s: the operation is not an object", where))
				continue
			}
			id, _ := op["operationId"].(string)
			if id == "" {
				continue
			}
			a, err := r.action(p, method, itemMap, op)
			if err != nil {
				errs = append(errs, errdefs.Invalid("%s (operationId %s): %v", where, id, err))
				continue
			}
			if prev, dup := taken[a.Name]; dup {
				errs = append(errs, errdefs.Invalid("%s (operationId %s): gives the action name %q, as %s does; make their operationIds differ in more than case and punctuation", where, id, a.Name, prev))
				continue
			}
			taken[a.Name] = fmt.Sprintf("%s (operationId %s)", where, id)
			out = append(out, a)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeOpenAPI reads the document and checks its version.
func decodeOpenAPI(doc []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // keep numbers exactly as written
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errdefs.Invalid("the OpenAPI document is not valid JSON: %v; give OpenAPI 3.0 or 3.1 as JSON", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errdefs.Invalid("the OpenAPI document is not a JSON object; give OpenAPI 3.0 or 3.1 as JSON")
	}
	if _, ok := root["swagger"]; ok {
		return nil, errdefs.Invalid("the document is Swagger 2.0; convert it to OpenAPI 3.0 or 3.1")
	}
	version, _ := root["openapi"].(string)
	if !strings.HasPrefix(version, "3.0") && !strings.HasPrefix(version, "3.1") {
		return nil, errdefs.Invalid("the document's \"openapi\" version is %q; give an OpenAPI 3.0 or 3.1 document", version)
	}
	return root, nil
}

// action builds the action of one operation.
func (r *refResolver) action(path, method string, item, op map[string]any) (Action, error) {
	a := Action{
		Name:   actionName(op["operationId"].(string)),
		Method: strings.ToUpper(method),
		Path:   path,
		Source: SourceOpenAPI,
	}
	a.Description, _ = op["summary"].(string)
	if a.Description == "" {
		a.Description, _ = op["description"].(string)
	}
	in := newObjectSchema()
	params, err := r.parameters(item, op)
	if err != nil {
		return Action{}, err
	}
	for _, p := range params {
		switch p.in {
		case "path":
			in.add(p.name, p.schema, true)
		case "query":
			in.add(p.name, p.schema, p.required)
			a.Query = append(a.Query, p.name)
		}
	}
	for _, name := range pathParams(path) {
		if _, ok := in.props[name]; !ok && name != "" {
			in.add(name, map[string]any{"type": "string"}, true)
		}
	}
	if err := r.requestBody(op, in, &a); err != nil {
		return Action{}, err
	}
	if a.Input, err = json.Marshal(in.schema()); err != nil {
		return Action{}, fmt.Errorf("encoding the input schema: %v", err)
	}
	out, types, err := r.responseSchema(op)
	if err != nil {
		return Action{}, err
	}
	// Recorded only when the answer may be other than JSON.
	if slices.ContainsFunc(types, func(t string) bool { return t != "application/json" && !strings.HasSuffix(t, "+json") }) {
		a.OutputContentTypes = types
	}
	if out != nil {
		if a.Output, err = json.Marshal(out); err != nil {
			return Action{}, fmt.Errorf("encoding the output schema: %v", err)
		}
	}
	return a, nil
}

// param is one operation parameter, $refs inlined.
type param struct {
	name, in string
	required bool
	schema   any
}

// parameters merges the path item's parameters with the operation's
// (which override by name and location).
func (r *refResolver) parameters(item, op map[string]any) ([]param, error) {
	var out []param
	for _, list := range []any{item["parameters"], op["parameters"]} {
		if list == nil {
			continue
		}
		arr, ok := list.([]any)
		if !ok {
			return nil, errors.New("parameters is not an array")
		}
		for i, raw := range arr {
			v, err := r.inline(raw, nil)
			if err != nil {
				return nil, fmt.Errorf("parameters[%d]: %v", i, err)
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("parameters[%d] is not an object", i)
			}
			p := param{}
			p.name, _ = m["name"].(string)
			p.in, _ = m["in"].(string)
			p.required, _ = m["required"].(bool)
			if p.name == "" || p.in == "" {
				return nil, fmt.Errorf("parameters[%d] lacks a name or an \"in\"; give both", i)
			}
			p.schema = paramSchema(m)
			out = slices.DeleteFunc(out, func(q param) bool { return q.name == p.name && q.in == p.in })
			out = append(out, p)
		}
	}
	return out, nil
}

// paramSchema is a parameter's schema, with its description.
func paramSchema(m map[string]any) any {
	s, ok := m["schema"]
	if !ok {
		if content, ok := m["content"].(map[string]any); ok {
			for _, mt := range sortedKeys(content) {
				if c, ok := content[mt].(map[string]any); ok && c["schema"] != nil {
					s = c["schema"]
					break
				}
			}
		}
	}
	sm, ok := s.(map[string]any)
	if !ok {
		sm = map[string]any{}
	}
	if d, ok := m["description"].(string); ok && d != "" && sm["description"] == nil {
		sm["description"] = d
	}
	return fixSchema(sm)
}

// requestBody adds the operation's JSON request body to the input.
func (r *refResolver) requestBody(op map[string]any, in *objectSchema, a *Action) error {
	raw, ok := op["requestBody"]
	if !ok {
		return nil
	}
	v, err := r.inline(raw, nil)
	if err != nil {
		return fmt.Errorf("requestBody: %v", err)
	}
	body, ok := v.(map[string]any)
	if !ok {
		return errors.New("requestBody is not an object")
	}
	schema, ok := jsonContent(body)
	if !ok {
		return nil // not JSON: the action cannot send it
	}
	schema = fixSchema(schema)
	required, _ := body["required"].(bool)
	if props, req, ok := objectProperties(schema); ok && !in.hasAny(props) {
		for _, k := range sortedKeys(props) {
			in.add(k, props[k], slices.Contains(req, k))
		}
		return nil
	}
	if _, clash := in.props[BodyProperty]; clash {
		return fmt.Errorf("a parameter is named %q, which the request body needs; rename the parameter", BodyProperty)
	}
	in.add(BodyProperty, schema, required)
	a.Body = BodyProperty
	return nil
}

// responseSchema is the JSON schema of the first success response, and
// the media types it may have.
func (r *refResolver) responseSchema(op map[string]any) (any, []string, error) {
	responses, ok := op["responses"].(map[string]any)
	if !ok {
		return nil, nil, nil
	}
	var codes []string
	for _, c := range []string{"200", "201"} {
		if _, ok := responses[c]; ok {
			codes = append(codes, c)
		}
	}
	for _, c := range sortedKeys(responses) {
		if len(c) == 3 && c[0] == '2' && c != "200" && c != "201" && strings.Trim(c[1:], "0123456789") == "" {
			codes = append(codes, c)
		}
	}
	for _, c := range []string{"2XX", "2xx", "default"} {
		if _, ok := responses[c]; ok {
			codes = append(codes, c)
		}
	}
	if len(codes) == 0 {
		return nil, nil, nil
	}
	v, err := r.inline(responses[codes[0]], nil)
	if err != nil {
		return nil, nil, fmt.Errorf("responses.%s: %v", codes[0], err)
	}
	resp, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("responses.%s is not an object", codes[0])
	}
	var types []string
	if content, ok := resp["content"].(map[string]any); ok {
		for _, mt := range sortedKeys(content) {
			base, _, _ := strings.Cut(mt, ";")
			base = strings.ToLower(strings.TrimSpace(base))
			if strings.Contains(base, "/") && !slices.Contains(types, base) {
				types = append(types, base)
			}
		}
	}
	if s, ok := jsonContent(resp); ok {
		return fixSchema(s), types, nil
	}
	return nil, types, nil
}

// jsonContent is the schema of the JSON media type of a request body or
// response: application/json, else another JSON type (such as
// application/problem+json).
func jsonContent(m map[string]any) (any, bool) {
	content, ok := m["content"].(map[string]any)
	if !ok {
		return nil, false
	}
	pick := func(mt string) (any, bool) {
		c, ok := content[mt].(map[string]any)
		if !ok {
			return nil, false
		}
		s, ok := c["schema"]
		if !ok {
			s = map[string]any{}
		}
		return s, true
	}
	if s, ok := pick("application/json"); ok {
		return s, true
	}
	for _, mt := range sortedKeys(content) {
		base, _, _ := strings.Cut(mt, ";")
		if strings.HasPrefix(base, "application/") && strings.HasSuffix(base, "json") {
			return pick(mt)
		}
	}
	return nil, false
}

// objectKeywords are the keywords an object body schema may have to be
// merged into the input; any other (allOf, oneOf, ...) keeps it whole.
var objectKeywords = []string{"type", "properties", "required", "title", "description",
	"additionalProperties", "example", "examples", "readOnly", "writeOnly", "deprecated", "xml", "externalDocs"}

// objectProperties returns the properties and required names of a plain
// object schema.
func objectProperties(schema any) (map[string]any, []string, bool) {
	m, ok := schema.(map[string]any)
	if !ok {
		return nil, nil, false
	}
	props, ok := m["properties"].(map[string]any)
	if !ok {
		return nil, nil, false
	}
	if t, ok := m["type"]; ok && t != "object" {
		return nil, nil, false
	}
	for k := range m {
		if !slices.Contains(objectKeywords, k) {
			return nil, nil, false
		}
	}
	var req []string
	if list, ok := m["required"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				req = append(req, s)
			}
		}
	}
	return props, req, true
}

// objectSchema builds an action's input schema.
type objectSchema struct {
	props    map[string]any
	required []string
}

func newObjectSchema() *objectSchema { return &objectSchema{props: map[string]any{}} }

func (o *objectSchema) add(name string, schema any, required bool) {
	o.props[name] = schema
	if required && !slices.Contains(o.required, name) {
		o.required = append(o.required, name)
	}
}

func (o *objectSchema) hasAny(props map[string]any) bool {
	for k := range props {
		if _, ok := o.props[k]; ok {
			return true
		}
	}
	return false
}

func (o *objectSchema) schema() map[string]any {
	s := map[string]any{"type": "object"}
	if len(o.props) > 0 {
		s["properties"] = o.props
	}
	if len(o.required) > 0 {
		s["required"] = o.required
	}
	return s
}

var (
	lowerUpper = regexp.MustCompile(`([a-z0-9])([A-Z])`)
	acronymEnd = regexp.MustCompile(`([A-Z]+)([A-Z][a-z])`)
	notWord    = regexp.MustCompile(`[^a-z0-9]+`)
)

// actionName turns an operationId into an action name: camelCase to
// snake_case, other characters to '_', starting with a letter, at most 48
// characters.
func actionName(id string) string {
	s := acronymEnd.ReplaceAllString(id, "${1}_${2}")
	s = lowerUpper.ReplaceAllString(s, "${1}_${2}")
	s = notWord.ReplaceAllString(strings.ToLower(s), "_")
	s = strings.Trim(s, "_")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "op_" + s
	}
	if len(s) > 48 {
		s = s[:48]
	}
	return strings.TrimRight(s, "_")
}
