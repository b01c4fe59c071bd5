package sandbox

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
)

func TestReadAnswer(t *testing.T) {
	act := &plugins.Action{Name: "run", Output: []byte(`{"type":"object"}`)}
	tests := []struct {
		name, ctype, body string
		wantType, want    string
		wantProgress      []string
		wantErr           error
	}{
		{"json", "application/json", `{"a":1}`, "application/json", `{"a":1}`, nil, nil},
		{"empty", "", ``, "application/json", `null`, nil, nil},
		{"text", "text/plain", `hi`, "application/json", `"hi"`, nil, nil},
		{"png", "image/png", "\x89PNG", "image/png", "\x89PNG", nil, nil},
		{"pdf with params", "application/pdf; qs=1", "%PDF", "application/pdf", "%PDF", nil, nil},
		{"ndjson", "application/x-ndjson",
			`{"type":"stdout","text":"a\nb\n"}` + "\n\n" + `{"type":"progress","message":"half","progress":50,"total":100}` + "\n" + `{"type":"result","result":"42"}` + "\n",
			"application/json", `{"type":"result","result":"42"}`, []string{"b 1/0", "half 50/100"}, nil},
		{"sse", "text/event-stream",
			"event: x\ndata: {\"type\":\"progress\",\"message\":\"one\"}\n\ndata: {\"type\":\"result\",\"ok\":true}\n\n",
			"application/json", `{"type":"result","ok":true}`, []string{"one 1/0"}, nil},
		{"error line", "application/x-ndjson", `{"type":"error","detail":"busy","status":409}` + "\n", "", "", nil, errdefs.ErrConflict},
		{"no result", "application/x-ndjson", `{"type":"progress","message":"x"}` + "\n", "", "", []string{"x 1/0"}, errdefs.ErrUnavailable},
		{"not json", "application/x-ndjson", "oops\n", "", "", nil, errdefs.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{"Content-Type": {tt.ctype}}, Body: io.NopCloser(strings.NewReader(tt.body))}
			var progress []string
			opts := ActionOptions{Progress: func(p ActionProgress) {
				progress = append(progress, p.Message+" "+ftoa(p.Progress)+"/"+ftoa(p.Total))
			}}
			got, err := readAnswer("p", "run", act, resp, opts)
			if diff := cmp.Diff(tt.wantProgress, progress); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ContentType != tt.wantType || string(got.Body) != tt.want || string(got.Output) != `{"type":"object"}` {
				t.Errorf("answer = %s %q (output %s), want %s %q", got.ContentType, got.Body, got.Output, tt.wantType, tt.want)
			}
		})
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func TestAcceptOf(t *testing.T) {
	tests := []struct {
		types    []string
		progress bool
		want     string
	}{
		{nil, false, "application/json"},
		{[]string{"application/json", "application/x-ndjson"}, false, "application/json"},
		{[]string{"application/json", "application/x-ndjson"}, true, "application/x-ndjson, application/json"},
		{[]string{"text/event-stream"}, false, "text/event-stream, application/json"},
		{[]string{"image/png", "application/json"}, false, "application/json, image/png"},
	}
	for _, tt := range tests {
		if got := acceptOf(&plugins.Action{OutputContentTypes: tt.types}, tt.progress); got != tt.want {
			t.Errorf("acceptOf(%v, %v) = %q, want %q", tt.types, tt.progress, got, tt.want)
		}
	}
}
