package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
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
	if _, ok := resolvedSchemas.items[string(a.Input)]; !ok {
		t.Error("the resolved schema is not kept")
	}
	if err := (&Action{Name: "any"}).CheckInput([]any{1}); err != nil {
		t.Errorf("an action without a schema refused input: %v", err)
	}
	if err := (&Action{Name: "bad", Input: json.RawMessage(`{"type":"strin"}`)}).CheckInput(map[string]any{}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("an unusable schema: %v, want unavailable", err)
	}
}

// TestSchemaCacheBounded: the cache keeps the most recently used schemas
// and lets the oldest go.
func TestSchemaCacheBounded(t *testing.T) {
	c := newSchemaCache(3)
	schema := func(i int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"type":"object","properties":{"p%d":{"type":"string"}}}`, i))
	}
	for i := range 5 {
		if _, err := c.get(schema(i)); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			_, _ = c.get(schema(0)) // 0 is used again: 1 is now the oldest
		}
	}
	if got := c.len(); got != 3 {
		t.Errorf("cache holds %d schemas, want 3", got)
	}
	for i, want := range []bool{true, false, false, true, true} {
		if _, ok := c.items[string(schema(i))]; ok != want {
			t.Errorf("schema %d kept = %v, want %v", i, ok, want)
		}
	}
	if _, err := c.get(json.RawMessage(`{"type":"strin"}`)); err == nil {
		t.Error("a bad schema resolved")
	}
	if got := c.len(); got != 3 {
		t.Errorf("a bad schema is kept: %d", got)
	}
}
