package plugins

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestCheckInput(t *testing.T) {
	a := &Action{Name: "say", Input: json.RawMessage(`{"type":"object","properties":{"msg":{"type":"string"}},"required":["msg"]}`)}
	for _, tc := range []struct {
		input string
		want  error
	}{
		{`{"msg":"hi"}`, nil},
		{`{}`, errdefs.ErrInvalidArgument},
		{`{"msg":1}`, errdefs.ErrInvalidArgument},
	} {
		var v any
		_ = json.Unmarshal([]byte(tc.input), &v)
		// Twice: the second check uses the schema resolved by the first.
		for range 2 {
			if err := a.CheckInput(v); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Errorf("CheckInput(%s) = %v, want %v", tc.input, err, tc.want)
			}
		}
	}
	if _, ok := resolvedSchemas.Load(string(a.Input)); !ok {
		t.Error("the resolved schema is not kept")
	}
	if err := (&Action{Name: "any"}).CheckInput([]any{1}); err != nil {
		t.Errorf("an action without a schema refused input: %v", err)
	}
	if err := (&Action{Name: "bad", Input: json.RawMessage(`{"type":"strin"}`)}).CheckInput(map[string]any{}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("an unusable schema: %v, want unavailable", err)
	}
}
