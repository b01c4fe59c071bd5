package plugins

import (
	"encoding/json"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/volant-sh/volant/errdefs"
)

// resolvedSchemas keeps the resolved input schemas of the actions called
// so far, by their JSON, so that an action's schema is compiled once, not
// at every call.
var resolvedSchemas sync.Map // string → *jsonschema.Resolved

// CheckInput checks an action's input, decoded from JSON into plain Go
// values (map[string]any, float64, ...), against the action's input
// schema. An action without one takes any input.
func (a *Action) CheckInput(input any) error {
	if len(a.Input) == 0 {
		return nil
	}
	rs, err := resolvedSchema(a.Input)
	if err != nil {
		return errdefs.Unavailable("action %s has an unusable input schema: %v", a.Name, err)
	}
	if err := rs.Validate(input); err != nil {
		return errdefs.Invalid("the input of action %s does not match its schema: %v", a.Name, err)
	}
	return nil
}

func resolvedSchema(raw json.RawMessage) (*jsonschema.Resolved, error) {
	if rs, ok := resolvedSchemas.Load(string(raw)); ok {
		return rs.(*jsonschema.Resolved), nil
	}
	s, err := compileSchema(raw)
	if err != nil {
		return nil, err
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		return nil, err
	}
	resolvedSchemas.Store(string(raw), rs)
	return rs, nil
}
