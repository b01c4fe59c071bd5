package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// checkFields reports every key of the JSON value v that the Go type t
// does not have, and every value of the wrong JSON kind, as errors naming
// its path ("artifacts[2].shasum"). encoding/json ignores unknown keys,
// matches names case-insensitively and names no array index in its type
// errors; a manifest is strict so that a misspelled field is not
// silently dropped. Values of type json.RawMessage are not looked into.
func checkFields(v any, t reflect.Type, path string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil // null leaves the zero value
	}
	wrong := func() []error {
		return []error{errdefs.Invalid("%s: is %s but must be %s; fix its type", path, jsonValueKind(v), jsonKind(t))}
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return wrong()
		}
		fields := jsonFields(t)
		var errs []error
		for _, k := range sortedKeys(obj) {
			f, ok := fields[k]
			if !ok {
				errs = append(errs, errdefs.Invalid("%s: unknown field; remove it or use one of: %s",
					join(path, k), strings.Join(sortedKeys(fields), ", ")))
				continue
			}
			errs = append(errs, checkFields(obj[k], f, join(path, k))...)
		}
		return errs
	case reflect.Slice:
		if t == reflect.TypeFor[json.RawMessage]() {
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			if _, ok := v.(string); !ok {
				return wrong()
			}
			return nil
		}
		arr, ok := v.([]any)
		if !ok {
			return wrong()
		}
		var errs []error
		for i, e := range arr {
			errs = append(errs, checkFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return wrong()
		}
		var errs []error
		for _, k := range sortedKeys(obj) {
			errs = append(errs, checkFields(obj[k], t.Elem(), join(path, k))...)
		}
		return errs
	case reflect.String:
		if _, ok := v.(string); !ok {
			return wrong()
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return wrong()
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(float64)
		if !ok || n != float64(int64(n)) {
			return wrong()
		}
	}
	return nil
}

// jsonValueKind names the kind of a decoded JSON value.
func jsonValueKind(v any) string {
	switch v := v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		if v != float64(int64(v)) {
			return "a fraction"
		}
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

// jsonFields maps the JSON names of t's exported fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// join appends a field name to a field path.
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// decodeError turns an encoding/json error into one that names the field
// and says what to fix.
func decodeError(what string, err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return errdefs.Invalid("%s: is a JSON %s but must be %s; fix its type", fieldPath(typeErr.Field), typeErr.Value, jsonKind(typeErr.Type))
	case errors.As(err, &typeErr):
		return errdefs.Invalid("%s: is a JSON %s but must be %s", what, typeErr.Value, jsonKind(typeErr.Type))
	case errors.As(err, &syntaxErr):
		return errdefs.Invalid("%s: is not valid JSON at byte %d: %v", what, syntaxErr.Offset, err)
	}
	return errdefs.Invalid("%s: %v", what, err)
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// fieldPath rewrites encoding/json's dotted field path ("artifacts.2.mode")
// in the form errors use ("artifacts[2].mode").
func fieldPath(dotted string) string {
	var b strings.Builder
	for i, seg := range strings.Split(dotted, ".") {
		if seg != "" && strings.Trim(seg, "0123456789") == "" {
			b.WriteString("[" + seg + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}
