// Package guesttest runs the python plugin in real guests: installed the
// way volar plugin install runtimes/python does, its interpreter answers
// over REST and MCP, streams its output, interrupts, restarts, and its
// template restores an interpreter with numpy, pandas and matplotlib
// already imported.
package guesttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/daemon"
	"github.com/volant-sh/volant/internal/testguest"
	"github.com/volant-sh/volant/sandbox"
)

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// runResult is what run_code answers.
type runResult struct {
	Type        string  `json:"type"`
	Stdout      string  `json:"stdout"`
	Stderr      string  `json:"stderr"`
	Result      *string `json:"result"`
	Images      []any   `json:"images"`
	Error       *struct{ Ename, Evalue, Traceback string }
	Interrupted bool `json:"interrupted"`
	TimedOut    bool `json:"timed_out"`
}

func repoDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

func TestPythonPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Debian image and boots guests")
	}
	testguest.Skip(t)
	if os.Geteuid() != 0 {
		t.Skip("building an image with packages needs root")
	}
	ctx := context.Background()
	state := t.TempDir()
	cfg := daemon.Defaults()
	cfg.StateDir = state
	cfg.ImageDir = filepath.Join(testguest.CacheDir(), "images") // the image build is cached there
	cfg.KestrelPath = testguest.KestrelPath(t)
	cfg.Accel = "tcg"
	cfg.BridgeNetwork = false
	cfg.DefaultNetwork = "none"
	cfg.Templates = true
	cfg.WarmPool = 0
	cfg.LogLevel = "debug"
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := daemon.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		srv.Close()
		d.Close()
		if t.Failed() {
			t.Logf("daemon logs (tail):\n%s", tail(logs.String(), 20000))
		}
	})
	tok, err := os.ReadFile(daemon.TokenPath(state))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	api, err := apiclient.New(apiclient.Options{BaseURL: srv.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}

	// Install as volar plugin install runtimes/python does.
	start := time.Now()
	p, err := api.InstallPluginDir(ctx, repoDir(t))
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	t.Logf("FIGURE install (image build or cache) %s; image %s", time.Since(start).Round(time.Second), p.Manifest.RootFS.Image)
	imgs, err := api.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, im := range imgs {
		for _, n := range im.Names {
			found = found || n == p.Manifest.RootFS.Image
		}
	}
	if !found {
		t.Errorf("the built image %s is not in the image store", p.Manifest.RootFS.Image)
	}

	// Cold: the first create boots and imports.
	start = time.Now()
	sb, err := api.CreateSandbox(ctx, sandbox.Spec{Runtime: "python", Network: "none"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	run := func(code string, timeout int) runResult {
		t.Helper()
		in, _ := json.Marshal(map[string]any{"code": code, "timeout_s": timeout})
		ans, err := api.CallAction(ctx, sb.ID, "python", "run_code", in, apiclient.ActionOptions{})
		if err != nil {
			t.Fatalf("run_code %q: %v", code, err)
		}
		var r runResult
		if err := json.Unmarshal(ans.Body, &r); err != nil {
			t.Fatalf("run_code %q answered %s: %v", code, ans.Body, err)
		}
		return r
	}
	if r := run("x = 41", 60); r.Error != nil {
		t.Fatalf("x = 41: %+v", r.Error)
	}
	cold := time.Since(start)
	t.Logf("FIGURE cold create -> first run_code answered: %s", cold.Round(time.Millisecond))
	if r := run("x + 1", 60); r.Result == nil || *r.Result != "42" {
		t.Errorf("x + 1 = %+v, want 42", r)
	}
	if r := run("import sys; sorted(m for m in ('numpy','pandas','matplotlib') if m in sys.modules)", 60); r.Result == nil || *r.Result != "['matplotlib', 'numpy', 'pandas']" {
		t.Errorf("preloaded modules = %+v", r)
	}
	// Round trip of 1+1 over REST.
	start = time.Now()
	run("1+1", 60)
	t.Logf("FIGURE run_code 1+1 round trip over REST: %s", time.Since(start).Round(time.Millisecond))

	// MCP with the go-sdk client.
	hc := &http.Client{Transport: bearer{token}}
	progress := make(chan string, 100)
	client := sdk.NewClient(&sdk.Implementation{Name: "guesttest", Version: "1"}, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			select {
			case progress <- req.Params.Message:
			default:
			}
		},
	})
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: srv.URL + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	callTool := func(params *sdk.CallToolParams) *sdk.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, params)
		if err != nil {
			t.Fatalf("%s: %v", params.Name, err)
		}
		if res.IsError {
			t.Fatalf("%s: %v", params.Name, text(res))
		}
		return res
	}
	start = time.Now()
	callTool(&sdk.CallToolParams{Name: "python_run_code", Arguments: map[string]any{"sandbox_id": sb.ID, "code": "1+1"}})
	t.Logf("FIGURE run_code 1+1 round trip over MCP: %s", time.Since(start).Round(time.Millisecond))

	// A matplotlib figure is image content.
	res := callTool(&sdk.CallToolParams{Name: "python_run_code", Arguments: map[string]any{"sandbox_id": sb.ID,
		"code": "import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 1), dpi=50)\nplt.plot([1, 2, 3], [x, 0, x])\nNone", "timeout_s": 120}})
	var img *sdk.ImageContent
	for _, c := range res.Content {
		if im, ok := c.(*sdk.ImageContent); ok {
			img = im
		}
	}
	switch {
	case img == nil:
		t.Errorf("the plot answered no image content: %s", text(res))
	case img.MIMEType != "image/png":
		t.Errorf("image type %s, want image/png", img.MIMEType)
	default:
		if cfg, err := png.DecodeConfig(bytes.NewReader(img.Data)); err != nil || cfg.Width != 100 || cfg.Height != 50 {
			t.Errorf("the figure does not decode as a 100x50 PNG: %+v %v", cfg, err)
		}
	}
	if strings.Contains(text(res), "iVBOR") {
		t.Errorf("the figure's base64 is in the text too")
	}

	// Output streams as progress notifications.
	params := &sdk.CallToolParams{Name: "python_run_code", Arguments: map[string]any{"sandbox_id": sb.ID,
		"code": "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(1)\n", "timeout_s": 120}}
	params.SetProgressToken("ticks")
	callTool(params)
	select {
	case msg := <-progress:
		if !strings.Contains(msg, "tick") {
			t.Errorf("progress message %q, want an output line", msg)
		}
	case <-time.After(time.Minute): // a deadline for a notification that never comes
		t.Errorf("no progress notification arrived")
	}

	// An endless loop is interrupted at its timeout; x survives.
	r := run("while True: pass", 5)
	if !r.TimedOut && !r.Interrupted {
		t.Errorf("while True with timeout_s 5 = %+v, want it interrupted", r)
	}
	if r := run("x", 60); r.Result == nil || *r.Result != "41" {
		t.Errorf("x after the interrupt = %+v, want 41", r)
	}

	// install without an index says so.
	_, err = api.CallAction(ctx, sb.ID, "python", "install", json.RawMessage(`{"packages":["requests-nope-volant"]}`), apiclient.ActionOptions{})
	var ae *apiclient.Error
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, "no package index is reachable") {
		t.Errorf("install without an index = %v, want the clear error", err)
	}

	// restart clears x.
	if _, err := api.CallAction(ctx, sb.ID, "python", "restart", nil, apiclient.ActionOptions{}); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if r := run("x", 120); r.Error == nil || r.Error.Ename != "NameError" {
		t.Errorf("x after restart = %+v, want a NameError", r)
	}

	// The template: built in the background after the first boot; then a
	// create restores an interpreter with the imports done.
	for {
		info, err := api.System(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Templates.Templates > 0 && info.Templates.Building == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(2 * time.Second): // polling the template's state, not a timed assertion
		}
	}
	if err := api.DeleteSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	sb, err = api.CreateSandbox(ctx, sandbox.Spec{Runtime: "python", Network: "none"})
	if err != nil {
		t.Fatalf("create from the template: %v", err)
	}
	if r := run("import sys; 'pandas' in sys.modules", 120); r.Result == nil || *r.Result != "True" {
		t.Errorf("pandas in a restored interpreter = %+v", r)
	}
	warm := time.Since(start)
	t.Logf("FIGURE template create -> first run_code answered: %s (cold %s, %.1fx)", warm.Round(time.Millisecond), cold.Round(time.Millisecond), float64(cold)/float64(warm))
	if err := api.DeleteSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}

	// A second install finds the image built.
	if err := api.RemovePlugin(ctx, "python"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	again, err := api.InstallPluginDir(ctx, repoDir(t))
	if err != nil {
		t.Fatalf("second install: %v", err)
	}
	if again.Manifest.RootFS.Image != p.Manifest.RootFS.Image {
		t.Errorf("second install runs image %s, the first %s", again.Manifest.RootFS.Image, p.Manifest.RootFS.Image)
	}
	t.Logf("FIGURE second install (image cached): %s", time.Since(start).Round(time.Millisecond))
}

func text(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
