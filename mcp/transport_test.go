package mcp

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestResources(t *testing.T) {
	eng := newFakeEngine(t)
	listChanged := make(chan struct{}, 16)
	updated := make(chan string, 16)
	_, cs := connect(t, eng, feedOf(eng), &sdk.ClientOptions{
		ResourceListChangedHandler: func(context.Context, *sdk.ResourceListChangedRequest) { listChanged <- struct{}{} },
		ResourceUpdatedHandler: func(_ context.Context, req *sdk.ResourceUpdatedNotificationRequest) {
			updated <- req.Params.URI
		},
	})
	ctx := context.Background()
	if err := cs.Subscribe(ctx, &sdk.SubscribeParams{URI: "volant://sandboxes"}); err != nil {
		t.Fatal(err)
	}
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
	<-listChanged
	if got := <-updated; got != "volant://sandboxes" {
		t.Errorf("updated %q, want volant://sandboxes", got)
	}

	res, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range res.Resources {
		uris = append(uris, r.URI)
	}
	if strings.Join(uris, " ") != "volant://sandboxes volant://sandboxes/"+id {
		t.Errorf("resources %q, want the list and the new sandbox", uris)
	}
	tmpls, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(tmpls.ResourceTemplates) != 2 {
		t.Fatalf("templates %v, %v", tmpls, err)
	}

	read := func(uri string) string {
		t.Helper()
		r, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
		if err != nil {
			t.Fatalf("read %s: %v", uri, err)
		}
		return r.Contents[0].Text
	}
	var list ListOutput
	if err := json.Unmarshal([]byte(read("volant://sandboxes")), &list); err != nil || len(list.Sandboxes) != 1 {
		t.Errorf("volant://sandboxes = %+v, %v", list, err)
	}
	if got := read("volant://sandboxes/" + id); !strings.Contains(got, `"id": "`+id+`"`) {
		t.Errorf("sandbox resource = %s", got)
	}
	if got := read("volant://sandboxes/" + id + "/console"); !strings.Contains(got, "kestrel: ready") {
		t.Errorf("console = %q", got)
	}
	if _, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "volant://sandboxes/sbx-nope"}); err == nil {
		t.Errorf("reading an unknown sandbox: no error")
	}

	ok[DeleteOutput](t, cs, "sandbox_delete", map[string]any{"sandbox_id": id})
	<-listChanged
	res, _ = cs.ListResources(ctx, nil)
	if len(res.Resources) != 1 {
		t.Errorf("after delete resources = %d, want 1", len(res.Resources))
	}
}

func TestStdio(t *testing.T) {
	s := New(Options{Manager: newFakeEngine(t)})
	defer s.Close()
	cin, sout := io.Pipe()
	sin, cout := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.ServeStdio(context.Background(), sin, sout) }()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, nil).Connect(context.Background(), &sdk.IOTransport{Reader: cin, Writer: cout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pl := ok[PluginListOutput](t, cs, "plugin_list", nil); pl.Plugins == nil {
		t.Errorf("plugin_list = %+v", pl)
	}
	cs.Close()
	cout.Close()
	if err := <-done; err != nil {
		t.Errorf("ServeStdio = %v", err)
	}
}

// serveUnix serves h on a unix socket, as volantd does for its state
// directory, requiring the bearer token.
func serveUnix(t *testing.T, h http.Handler, token string) *http.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "volantd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func TestStreamableHTTP(t *testing.T) {
	eng := newFakeEngine(t)
	s := New(Options{Manager: eng})
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, nil).Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
	if out := ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"echo", "hi"}}); out.Stdout != "hi\n" {
		t.Errorf("exec over HTTP = %+v", out)
	}

	sse := httptest.NewServer(s.SSEHandler())
	defer sse.Close()
	cs2, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, nil).Connect(context.Background(), &sdk.SSEClientTransport{Endpoint: sse.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs2.Close()
	if got := ok[map[string]any](t, cs2, "sandbox_get", map[string]any{"sandbox_id": id})["id"]; got != id {
		t.Errorf("sandbox_get over SSE = %v", got)
	}
}

func TestBridgeStdio(t *testing.T) {
	eng := newFakeEngine(t)
	s := New(Options{Manager: eng, Events: feedOf(eng)})
	defer s.Close()
	hc := serveUnix(t, s.Handler(), "secret")

	cin, bout := io.Pipe()
	bin, cout := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- BridgeStdio(context.Background(), bin, bout, hc, "http://volantd/mcp", "secret") }()

	listChanged := make(chan struct{}, 16)
	progress := make(chan string, 64)
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, &sdk.ClientOptions{
		ResourceListChangedHandler: func(context.Context, *sdk.ResourceListChangedRequest) { listChanged <- struct{}{} },
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			progress <- req.Params.Message
		},
	}).Connect(context.Background(), &sdk.IOTransport{Reader: cin, Writer: cout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := ok[map[string]any](t, cs, "sandbox_create", nil)["id"].(string)
	// Server-initiated notifications come over the standalone stream.
	<-listChanged
	params := &sdk.CallToolParams{Name: "sandbox_exec", Arguments: map[string]any{"sandbox_id": id, "cmd": []string{"echo", "bridged"}}}
	params.SetProgressToken(1)
	res, err := cs.CallTool(context.Background(), params)
	if err != nil || res.IsError {
		t.Fatalf("exec through bridge: %v %s", err, resultText(res))
	}
	if msg := <-progress; msg != "bridged" {
		t.Errorf("progress message %q, want bridged", msg)
	}
	res = call(t, cs, "sandbox_get", map[string]any{"sandbox_id": "sbx-nope"})
	if !res.IsError {
		t.Errorf("unknown sandbox through bridge: not an error")
	}
	cs.Close()
	cout.Close()
	if err := <-done; err != nil {
		t.Errorf("BridgeStdio = %v", err)
	}
}

func TestBridgeStdioBadToken(t *testing.T) {
	s := New(Options{Manager: newFakeEngine(t)})
	defer s.Close()
	hc := serveUnix(t, s.Handler(), "secret")
	cin, bout := io.Pipe()
	bin, cout := io.Pipe()
	go BridgeStdio(context.Background(), bin, bout, hc, "http://volantd/mcp", "wrong")
	_, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, nil).Connect(context.Background(), &sdk.IOTransport{Reader: cin, Writer: cout}, nil)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("connect with a wrong token: %v, want a 401 error", err)
	}
	cout.Close()
}

// BenchmarkToolCallExecTrue measures one sandbox_exec of "true" over the
// in-memory transport: MCP encoding, the tool layer and the agent protocol
// (with the real kestrel exec handler on this host, no VM).
func BenchmarkToolCallExecTrue(b *testing.B) {
	_, cs := connect(b, newFakeEngine(b), nil, nil)
	id := ok[map[string]any](b, cs, "sandbox_create", nil)["id"].(string)
	args := map[string]any{"sandbox_id": id, "cmd": []string{"true"}}
	for b.Loop() {
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "sandbox_exec", Arguments: args})
		if err != nil || res.IsError {
			b.Fatalf("exec: %v %v", err, res)
		}
	}
}
