package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"strings"
	"sync"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/sandbox"
)

func tinyPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPluginToolAnswers: an image answer is image content, a PDF an
// embedded resource, base64 images an output schema marks come out of the
// JSON text as image content, and a streaming action's progress lines
// are progress notifications when the client sent a progress token.
func TestPluginToolAnswers(t *testing.T) {
	pic := tinyPNG(t)
	output := json.RawMessage(`{"type":"object","properties":{"stdout":{"type":"string"},
		"images":{"type":"array","items":{"type":"object","properties":{"data":{"type":"string","contentEncoding":"base64","contentMediaType":"image/*"}}}}}}`)
	p := &plugins.Plugin{Name: "py", Version: "1", Enabled: true, Manifest: plugins.Manifest{SchemaVersion: 1, Name: "py", Version: "1"},
		Actions: []plugins.Action{{Name: "shot", Path: "/shot"}, {Name: "pdf", Path: "/pdf"}, {Name: "run", Path: "/run", Output: output}}}
	eng := newFakeEngine(t)
	eng.OnActionAnswer = func(_ context.Context, _, _, action string, _ json.RawMessage, opts sandbox.ActionOptions) (*sandbox.ActionAnswer, error) {
		switch action {
		case "shot":
			return &sandbox.ActionAnswer{ContentType: "image/png", Body: pic}, nil
		case "pdf":
			return &sandbox.ActionAnswer{ContentType: "application/pdf", Body: []byte("%PDF-1.4")}, nil
		}
		if opts.Progress != nil {
			opts.Progress(sandbox.ActionProgress{Message: "step 1", Progress: 1})
			opts.Progress(sandbox.ActionProgress{Message: "step 2", Progress: 2})
		}
		body, _ := json.Marshal(map[string]any{"stdout": "step 1\nstep 2\n", "images": []any{map[string]any{"mime_type": "image/png", "data": base64.StdEncoding.EncodeToString(pic)}}})
		return &sandbox.ActionAnswer{ContentType: "application/json", Body: body, Output: output}, nil
	}
	var mu sync.Mutex
	var progress []string
	_, cs := connectOpts(t, Options{Manager: eng, Plugins: newFakePlugins(p), Version: "test"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, req.Params.Message)
			mu.Unlock()
		},
	})
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
	ctx := context.Background()

	res := call(t, cs, "py_shot", map[string]any{"sandbox_id": id})
	if len(res.Content) != 1 {
		t.Fatalf("shot content = %v, want one image", res.Content)
	}
	im, isImage := res.Content[0].(*sdk.ImageContent)
	if !isImage || im.MIMEType != "image/png" {
		t.Fatalf("shot content = %#v, want image/png", res.Content[0])
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(im.Data)); err != nil || cfg.Width != 3 || cfg.Height != 2 {
		t.Errorf("the image does not decode as the 3x2 PNG: %v %v", cfg, err)
	}

	res = call(t, cs, "py_pdf", map[string]any{"sandbox_id": id})
	if r, isRes := res.Content[0].(*sdk.EmbeddedResource); !isRes || r.Resource.MIMEType != "application/pdf" || string(r.Resource.Blob) != "%PDF-1.4" || !strings.HasPrefix(r.Resource.URI, "volant://sandboxes/") {
		t.Errorf("pdf content = %#v, want an embedded resource with the bytes", res.Content[0])
	}

	// With a progress token: notifications, then the answer.
	params := &sdk.CallToolParams{Name: "py_run", Arguments: map[string]any{"sandbox_id": id, "code": "x"}}
	params.SetProgressToken("tok-1")
	res, err := cs.CallTool(ctx, params)
	if err != nil || res.IsError {
		t.Fatalf("py_run: %v %v", err, res)
	}
	if len(res.Content) != 2 {
		t.Fatalf("run content = %d items, want the text and one image", len(res.Content))
	}
	txt := res.Content[0].(*sdk.TextContent).Text
	if strings.Contains(txt, base64.StdEncoding.EncodeToString(pic)) || !strings.Contains(txt, "sent as media item 1") || !strings.Contains(txt, `"stdout":"step 1\nstep 2\n"`) {
		t.Errorf("run text = %s, want the JSON without the base64", txt)
	}
	if im, isImage := res.Content[1].(*sdk.ImageContent); !isImage || im.MIMEType != "image/png" || !bytes.Equal(im.Data, pic) {
		t.Errorf("run content[1] = %#v, want the figure as image/png", res.Content[1])
	}
	// Progress notifications are delivered before the answer in order on
	// one session; wait for them without timing.
	for {
		mu.Lock()
		n := len(progress)
		mu.Unlock()
		if n >= 2 {
			break
		}
		ok[map[string]any](t, cs, "sandbox_get", map[string]any{"sandbox_id": id})
	}
	mu.Lock()
	if progress[0] != "step 1" || progress[1] != "step 2" {
		t.Errorf("progress = %q", progress)
	}
	mu.Unlock()

	// Without a token: no notifications.
	mu.Lock()
	progress = nil
	mu.Unlock()
	call(t, cs, "py_run", map[string]any{"sandbox_id": id, "code": "x"})
	ok[map[string]any](t, cs, "sandbox_get", map[string]any{"sandbox_id": id})
	mu.Lock()
	if len(progress) != 0 {
		t.Errorf("progress without a token = %q", progress)
	}
	mu.Unlock()
}
