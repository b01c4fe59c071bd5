package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
)

// anyObject is the input schema of an action that declares none.
var anyObject = json.RawMessage(`{"type":"object"}`)

// mergedActions returns the plugin's actions: the manifest's, with
// defaults filled in, then those of its OpenAPI document whose names the
// manifest does not use (the manifest wins on a clash).
func (m *Manifest) mergedActions() ([]Action, error) {
	out := make([]Action, 0, len(m.Actions))
	names := make(map[string]bool, len(m.Actions))
	for _, a := range m.Actions {
		if a.Method == "" {
			a.Method = "POST"
		}
		if len(a.Input) == 0 {
			a.Input = anyObject
		}
		a.Source = SourceManifest
		names[a.Name] = true
		out = append(out, a)
	}
	if len(m.OpenAPI) == 0 {
		return out, nil
	}
	fromDoc, err := ActionsFromOpenAPI(m.OpenAPI)
	if err != nil {
		return nil, prefixErrors("openapi", err)
	}
	for _, a := range fromDoc {
		if !names[a.Name] {
			out = append(out, a)
		}
	}
	return out, nil
}

// prefixErrors puts "prefix: " before the message of err, or of each
// error err joins, keeping their classes.
func prefixErrors(prefix string, err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = fmt.Errorf("%s: %w", prefix, e)
	}
	return errors.Join(out...)
}
