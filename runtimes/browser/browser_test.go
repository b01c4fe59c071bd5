package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const formPage = `<!doctype html>
<html><head><title>Form</title></head><body>
<h1>Sign up</h1>
<form id="f" onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value + ' (' + document.getElementById('color').value + ')'; console.log('submitted', document.getElementById('name').value);">
<label for="name">Name</label><input id="name" type="text" placeholder="your name">
<select id="color"><option value="r">Red</option><option value="g">Green</option></select>
<button type="submit">Send</button>
</form>
<p id="out"></p>
<a href="/second">Second page</a>
<script>console.log("page loaded")</script>
</body></html>`

// service starts Chromium on the host and serves the actions; the test
// pages come from a loopback server.
func service(t *testing.T) (api, site string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Chromium; skipped in -short")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	pages := http.NewServeMux()
	pages.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, formPage) })
	pages.HandleFunc("/second", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Second</title><p>the second page</p>`)
	})
	siteSrv := httptest.NewServer(pages)
	t.Cleanup(siteSrv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := Start(ctx, Config{Chromium: chromium, UserDataDir: t.TempDir(), DebugPort: freePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	svc, err := NewService(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewServer(svc.Handler())
	t.Cleanup(apiSrv.Close)
	return apiSrv.URL, siteSrv.URL
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func call(t *testing.T, api, action string, body any) (int, string, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(api+"/"+action, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), data
}

func must(t *testing.T, api, action string, body any) map[string]any {
	t.Helper()
	status, _, data := call(t, api, action, body)
	if status != 200 {
		t.Fatalf("%s %v: status %d: %s", action, body, status, data)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v: %s", action, err, data)
	}
	return m
}

// refOf finds the ref on the snapshot line that contains what.
func refOf(t *testing.T, snapshot, what string) string {
	t.Helper()
	for _, line := range strings.Split(snapshot, "\n") {
		if strings.Contains(line, what) {
			if i := strings.Index(line, "[ref="); i >= 0 {
				return strings.SplitN(line[i+5:], "]", 2)[0]
			}
		}
	}
	t.Fatalf("no ref on a line with %q in:\n%s", what, snapshot)
	return ""
}

func TestFormThroughRefs(t *testing.T) {
	api, site := service(t)
	nav := must(t, api, "navigate", map[string]any{"url": site + "/"})
	if nav["title"] != "Form" || nav["status"] != float64(200) {
		t.Errorf("navigate: %v", nav)
	}
	snap := must(t, api, "snapshot", map[string]any{})
	s := snap["snapshot"].(string)
	for _, want := range []string{`heading "Sign up" [level=1]`, `textbox "Name"`, `button "Send"`, `link "Second page"`} {
		if !strings.Contains(s, want) {
			t.Errorf("snapshot lacks %q:\n%s", want, s)
		}
	}
	if !strings.Contains(snap["text"].(string), "Sign up") {
		t.Errorf("text: %q", snap["text"])
	}
	name := refOf(t, s, `textbox "Name"`)
	must(t, api, "fill", map[string]any{"ref": name, "value": "Ada"})
	must(t, api, "select_option", map[string]any{"selector": "#color", "values": []string{"Green"}})
	// Refs stay on their elements across snapshots.
	if again := refOf(t, must(t, api, "snapshot", map[string]any{})["snapshot"].(string), `textbox "Name"`); again != name {
		t.Errorf("the ref changed between snapshots: %s then %s", name, again)
	}
	must(t, api, "click", map[string]any{"ref": refOf(t, s, `button "Send"`), "element": "Send button"})
	must(t, api, "wait_for", map[string]any{"text": "Hello, Ada (g)", "timeout_s": 60})
	ev := must(t, api, "evaluate", map[string]any{"expression": "document.getElementById('out').textContent"})
	if ev["result"] != "Hello, Ada (g)" {
		t.Errorf("evaluate: %v", ev)
	}
	el := must(t, api, "evaluate", map[string]any{"selector": "#name", "expression": "(el) => el.value.length"})
	if el["result"] != float64(3) {
		t.Errorf("evaluate on an element: %v", el)
	}
	msgs := must(t, api, "console_messages", map[string]any{})
	if b, _ := json.Marshal(msgs); !strings.Contains(string(b), "submitted Ada") {
		t.Errorf("console: %s", b)
	}
	reqs := must(t, api, "network_requests", map[string]any{})
	if b, _ := json.Marshal(reqs); !strings.Contains(string(b), `"status":200`) {
		t.Errorf("network: %s", b)
	}
	// Typing key by key, then Enter, submits too.
	must(t, api, "fill", map[string]any{"selector": "#name", "value": ""})
	must(t, api, "type", map[string]any{"selector": "#name", "text": "Bo", "slowly": true, "submit": true})
	must(t, api, "wait_for", map[string]any{"text": "Hello, Bo", "timeout_s": 60})
	// Links and history.
	must(t, api, "click", map[string]any{"ref": refOf(t, s, `link "Second page"`)})
	must(t, api, "wait_for", map[string]any{"text": "the second page", "timeout_s": 60})
	if back := must(t, api, "navigate_back", map[string]any{}); back["title"] != "Form" {
		t.Errorf("back: %v", back)
	}
	if fwd := must(t, api, "navigate_forward", map[string]any{}); fwd["title"] != "Second" {
		t.Errorf("forward: %v", fwd)
	}
}

func TestScreenshotPDFTabsAndErrors(t *testing.T) {
	api, site := service(t)
	must(t, api, "navigate", map[string]any{"url": site + "/"})
	status, ctype, data := call(t, api, "take_screenshot", map[string]any{})
	if status != 200 || ctype != "image/png" {
		t.Fatalf("screenshot: %d %s %.200s", status, ctype, data)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 720 {
		t.Errorf("screenshot size %v, want the 1280x720 viewport", b)
	}
	must(t, api, "resize", map[string]any{"width": 400, "height": 300})
	_, _, data = call(t, api, "take_screenshot", map[string]any{})
	if img, err := png.Decode(bytes.NewReader(data)); err != nil || img.Bounds().Dx() != 400 {
		t.Errorf("after resize: %v %v", err, img.Bounds())
	}
	_, _, data = call(t, api, "take_screenshot", map[string]any{"selector": "h1"})
	if img, err := png.Decode(bytes.NewReader(data)); err != nil || img.Bounds().Dx() >= 400 || img.Bounds().Dy() >= 300 {
		t.Errorf("element screenshot: %v %v", err, img.Bounds())
	}
	status, ctype, data = call(t, api, "pdf", map[string]any{})
	if status != 200 || ctype != "application/pdf" || !bytes.HasPrefix(data, []byte("%PDF")) {
		t.Errorf("pdf: %d %s %.20q", status, ctype, data)
	}
	tabs := must(t, api, "tabs", map[string]any{"action": "new", "url": site + "/second"})
	if list := tabs["tabs"].([]any); len(list) != 2 || !list[1].(map[string]any)["current"].(bool) {
		t.Errorf("tabs after new: %v", tabs)
	}
	must(t, api, "tabs", map[string]any{"action": "select", "index": 0})
	if got := must(t, api, "evaluate", map[string]any{"expression": "document.title"}); got["result"] != "Form" {
		t.Errorf("selected tab 0 but evaluate sees %v", got)
	}
	if tabs := must(t, api, "tabs", map[string]any{"action": "close", "index": 1}); len(tabs["tabs"].([]any)) != 1 {
		t.Errorf("tabs after close: %v", tabs)
	}

	for _, c := range []struct {
		action string
		body   any
		status int
		want   string
	}{
		{"click", map[string]any{"ref": "e999"}, 404, "take a new snapshot"},
		{"click", map[string]any{}, 400, "give the element's ref"},
		{"click", map[string]any{"ref": "e1", "selector": "x"}, 400, "not both"},
		{"navigate", map[string]any{"url": "javascript:alert(1)"}, 400, "scheme must be"},
		{"navigate", map[string]any{"url": site + "/", "colour": 1}, 400, "unknown field"},
		{"press_key", map[string]any{"key": "Hyper"}, 400, "key name"},
		{"evaluate", map[string]any{"expression": "throw new Error('boom')"}, 422, "boom"},
		{"wait_for", map[string]any{"text": "never there", "timeout_s": 1}, 504, "timeout_s"},
		{"tabs", map[string]any{"action": "select", "index": 7}, 400, "there are 1 tabs"},
		{"resize", map[string]any{"width": 0, "height": 10}, 400, "between 1 and 8192"},
		{"navigate", map[string]any{"url": site, "timeout_s": 9999}, 400, "timeout_s"},
	} {
		status, _, data := call(t, api, c.action, c.body)
		if status != c.status || !strings.Contains(string(data), c.want) {
			t.Errorf("%s %v: got %d %s, want %d with %q", c.action, c.body, status, data, c.status, c.want)
		}
	}
}
