package rest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// TestActionTypedAnswers: a binary answer is its bytes with its content
// type; Accept: application/x-ndjson streams the progress lines, then the
// result line; an error in a stream before any line is a problem answer.
func TestActionTypedAnswers(t *testing.T) {
	e, _ := newPluginEnv(t)
	want(t, e.do("POST", "/v1/sandboxes", map[string]any{"name": "web", "runtime": "httpd"}), http.StatusCreated, nil)
	png := "\x89PNG\r\n\x1a\nfake"
	e.eng.OnActionAnswer = func(_ context.Context, _, _, action string, _ json.RawMessage, opts sandbox.ActionOptions) (*sandbox.ActionAnswer, error) {
		switch action {
		case "shot":
			return &sandbox.ActionAnswer{ContentType: "image/png", Body: []byte(png)}, nil
		case "run":
			for _, m := range []string{"one", "two"} {
				if opts.Progress != nil {
					opts.Progress(sandbox.ActionProgress{Message: m, Line: json.RawMessage(`{"type":"progress","message":"` + m + `"}`)})
				}
			}
			return &sandbox.ActionAnswer{ContentType: "application/json", Body: []byte(`{"type":"result","result":"42"}`)}, nil
		case "list":
			return &sandbox.ActionAnswer{ContentType: "application/json", Body: []byte(`[1, 2]`)}, nil
		}
		return nil, errdefs.Conflict("the interpreter is busy")
	}

	resp := e.do("POST", "/v1/sandboxes/web/actions/httpd/shot", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || string(body) != png {
		t.Errorf("shot: %d %s %q, want 200 image/png with the bytes", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	c, err := apiclient.New(apiclient.Options{BaseURL: e.srv.URL, Token: e.token})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var lines []string
	ans, err := c.CallAction(ctx, "web", "httpd", "run", nil, apiclient.ActionOptions{Progress: func(l json.RawMessage) { lines = append(lines, string(l)) }})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"type":"progress","message":"one"}`, `{"type":"progress","message":"two"}`}, lines); diff != "" {
		t.Errorf("progress lines (-want +got):\n%s", diff)
	}
	if string(ans.Body) != `{"type":"result","result":"42"}` {
		t.Errorf("result = %s", ans.Body)
	}
	// Without Accept: application/x-ndjson, only the answer.
	ans, err = c.CallAction(ctx, "web", "httpd", "run", nil, apiclient.ActionOptions{})
	if err != nil || ans.ContentType != "application/json" || string(ans.Body) != `{"type":"result","result":"42"}` {
		t.Errorf("run without progress = %+v, %v", ans, err)
	}
	// A JSON answer that is not an object is streamed as a result line too.
	ans, err = c.CallAction(ctx, "web", "httpd", "list", nil, apiclient.ActionOptions{Progress: func(json.RawMessage) {}})
	if err != nil || string(ans.Body) != `{"type":"result","value":[1,2]}` {
		t.Errorf("list streamed = %s, %v", ans.Body, err)
	}
	ans, err = c.CallAction(ctx, "web", "httpd", "shot", nil, apiclient.ActionOptions{})
	if err != nil || ans.ContentType != "image/png" || string(ans.Body) != png {
		t.Errorf("shot through the client = %+v, %v", ans, err)
	}
	_, err = c.CallAction(ctx, "web", "httpd", "busy", nil, apiclient.ActionOptions{Progress: func(json.RawMessage) {}})
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != 409 || !strings.Contains(ae.Message, "busy") {
		t.Errorf("busy streamed = %v, want a 409", err)
	}

	// The OpenAPI document says the route may answer bytes or a stream.
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	want(t, e.do("GET", "/openapi.json", nil), 200, &doc)
	content := doc.Paths["/v1/sandboxes/{id}/actions/{plugin}/{action}"]["post"].Responses["200"].Content
	for _, mt := range []string{"application/json", "application/x-ndjson", "image/*", "application/pdf"} {
		if _, ok := content[mt]; !ok {
			t.Errorf("the action route's 200 does not declare %s: %v", mt, content)
		}
	}
}
