package plugins_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/plugins"
)

func TestSplitMedia(t *testing.T) {
	png := "\x89PNG\r\n\x1a\n0000IHDR"
	b64 := base64.StdEncoding.EncodeToString([]byte(png))
	schema := `{"type":"object","properties":{
		"stdout":{"type":"string"},
		"images":{"type":"array","items":{"type":"object","properties":{
			"mime_type":{"type":"string"},
			"data":{"type":"string","contentEncoding":"base64","contentMediaType":"image/*"}}}},
		"pdf":{"type":"string","contentEncoding":"base64","contentMediaType":"application/pdf"},
		"blob":{"type":"string","contentEncoding":"base64","contentMediaType":"application/zip"}}}`
	tests := []struct {
		name, answer string
		wantTypes    []string
		wantText     []string // in the answer's text
		notText      []string
	}{
		{"figures and a pdf", `{"stdout":"hi","n":1.50,"images":[{"mime_type":"image/png","data":"` + b64 + `"}],"pdf":"` + base64.StdEncoding.EncodeToString([]byte("%PDF-1.4")) + `","blob":"UEsD"}`,
			[]string{"image/png", "application/pdf"}, []string{`"stdout":"hi"`, `"n":1.50`, "image/png, 16 bytes: sent as media item 1", "UEsD"}, []string{b64}},
		{"no media", `{"stdout":"hi","images":[]}`, nil, []string{`{"stdout":"hi","images":[]}`}, nil},
		{"not base64", `{"images":[{"data":"!!"}]}`, nil, []string{`"!!"`}, nil},
		{"not JSON", `plain`, nil, []string{"plain"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, media := plugins.SplitMedia(json.RawMessage(schema), []byte(tt.answer))
			var types []string
			for _, m := range media {
				types = append(types, m.MediaType)
			}
			if diff := cmp.Diff(tt.wantTypes, types); diff != "" {
				t.Errorf("media types (-want +got):\n%s", diff)
			}
			if len(media) > 0 && string(media[0].Data) != png {
				t.Errorf("media[0] = %q, want the decoded PNG", media[0].Data)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(string(out), s) {
					t.Errorf("answer %s lacks %q", out, s)
				}
			}
			for _, s := range tt.notText {
				if strings.Contains(string(out), s) {
					t.Errorf("answer %s still has %q", out, s)
				}
			}
		})
	}
}
