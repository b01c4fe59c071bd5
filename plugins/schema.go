package plugins

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// compileSchema checks that raw is a JSON Schema (draft 2020-12, or
// draft-07 when it says so) without references outside itself.
func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("is not a JSON Schema: %v; give an object such as {\"type\":\"object\",\"properties\":{...}}", err)
	}
	if _, err := s.Resolve(nil); err != nil {
		return nil, fmt.Errorf("is not a valid JSON Schema: %v; fix the schema (references must point inside it)", err)
	}
	if err := checkTypes(reflect.ValueOf(&s), ""); err != nil {
		return nil, fmt.Errorf("is not a valid JSON Schema: %v", err)
	}
	return &s, nil
}

// jsonTypes are the type names JSON Schema knows.
var jsonTypes = []string{"null", "boolean", "object", "array", "number", "string", "integer"}

var (
	schemaPtr   = reflect.TypeFor[*jsonschema.Schema]()
	schemaSlice = reflect.TypeFor[[]*jsonschema.Schema]()
	schemaMap   = reflect.TypeFor[map[string]*jsonschema.Schema]()
)

// checkTypes checks the type names of v (a *jsonschema.Schema) and its
// subschemas, which jsonschema-go leaves unchecked.
func checkTypes(v reflect.Value, at string) error {
	if v.IsNil() {
		return nil
	}
	s := v.Interface().(*jsonschema.Schema)
	for _, t := range append([]string{s.Type}, s.Types...) {
		if t != "" && !slices.Contains(jsonTypes, t) {
			where := ""
			if at != "" {
				where = " at " + at
			}
			return fmt.Errorf("type %q%s is not a JSON type; use one of: %s", t, where, strings.Join(jsonTypes, ", "))
		}
	}
	e := v.Elem()
	for i := range e.NumField() {
		sf := e.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		f := e.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			name = strings.ToLower(sf.Name[:1]) + sf.Name[1:]
		}
		switch f.Type() {
		case schemaPtr:
			if err := checkTypes(f, at+"/"+name); err != nil {
				return err
			}
		case schemaSlice:
			for j := range f.Len() {
				if err := checkTypes(f.Index(j), fmt.Sprintf("%s/%s/%d", at, name, j)); err != nil {
					return err
				}
			}
		case schemaMap:
			for _, k := range f.MapKeys() {
				if err := checkTypes(f.MapIndex(k), at+"/"+name+"/"+k.String()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pathParam matches the "{param}" segments of an action's path.
var pathParam = regexp.MustCompile(`\{([^{}]*)\}`)

// pathParams returns the names of the "{param}" segments of path, in order.
func pathParams(path string) []string {
	var out []string
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}
