package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/volant-sh/volant/plugins"
)

func TestActionRequest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		act       plugins.Action
		input     string
		wantURL   string
		wantBody  string
		wantError bool
	}{
		{"path, query and body", plugins.Action{Name: "a", Method: "PUT", Path: "/items/{id}", Query: []string{"dry"}},
			`{"id":"x y","dry":true,"n":2}`, "http://workload/items/x%20y?dry=true", `{"n":2}`, false},
		{"default method is POST with the whole input", plugins.Action{Name: "a", Path: "/run"},
			`{"cmd":"ls"}`, "http://workload/run", `{"cmd":"ls"}`, false},
		{"a named body property is the whole body", plugins.Action{Name: "a", Method: "POST", Path: "/t/{id}", Body: "body"},
			`{"id":7,"body":[1,2]}`, "http://workload/t/7", `[1,2]`, false},
		{"GET sends the rest as query", plugins.Action{Name: "a", Method: "GET", Path: "/q"},
			`{"k":"v"}`, "http://workload/q?k=v", "", false},
		{"missing path parameter", plugins.Action{Name: "a", Method: "GET", Path: "/items/{id}"},
			`{}`, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, err := actionInput(&tc.act, json.RawMessage(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			req, err := actionRequest(context.Background(), &tc.act, args)
			if tc.wantError {
				if err == nil {
					t.Fatalf("built %s, want an error", req.URL)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tc.wantURL {
				t.Errorf("URL %s, want %s", req.URL, tc.wantURL)
			}
			var body []byte
			if req.Body != nil {
				body, _ = io.ReadAll(req.Body)
			}
			if string(body) != tc.wantBody {
				t.Errorf("body %s, want %s", body, tc.wantBody)
			}
		})
	}
}
