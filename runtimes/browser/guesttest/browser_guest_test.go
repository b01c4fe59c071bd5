package guesttest

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/internal/testguest"
	"github.com/volant-sh/volant/sandbox"
)

// formPage is the page of the form checks, opened as a data: URL (no
// network at all).
const formPage = `<!doctype html>
<html><head><title>Form</title></head><body>
<h1>Sign up</h1>
<form id="f" onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value;">
<label for="name">Name</label><input id="name" type="text">
<button type="submit">Send</button>
</form>
<p id="out"></p>
</body></html>`

var formURL = "data:text/html;base64," + base64.StdEncoding.EncodeToString([]byte(formPage))

// refOf finds the ref on the snapshot line that holds what.
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

// TestBrowserPlugin installs runtimes/browser with volar (its image built
// from Debian's packages, cached), waits for its one template (Chromium
// started and idle) and warm guest, and drives the browser of sandboxes
// restored from it over REST, the TypeScript MCP client and Playwright.
// Every subtest shares the one install and template: Chromium takes
// minutes to start under emulation, a restore under a second.
func TestBrowserPlugin(t *testing.T) {
	testguest.Skip(t)
	started := time.Now()
	defer func() { t.Logf("figure: the browser guest test took %s", time.Since(started).Round(time.Second)) }()
	script := nodeScript(t)
	dir := pluginDir(t)
	e := startDaemon(t, 1)
	ctx := context.Background()

	install := time.Now()
	e.volar(t, "plugin", "install", dir)
	t.Logf("figure: plugin install (image from Debian's packages, cached after the first time) took %s", time.Since(install).Round(time.Second))

	tpl := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 40*time.Minute)
	defer cancel()
	if _, err := e.d.Manager().WaitWarm(wctx, sandbox.Spec{Runtime: "browser", Network: sandbox.NetworkNone}); err != nil {
		t.Fatalf("the browser template and warm pool: %v", err)
	}
	t.Logf("figure: template (a cold boot starting Chromium, then the snapshot) and warm pool ready in %s", time.Since(tpl).Round(time.Second))

	// The first create takes the warm guest; the next one, made while
	// the pool refills, restores from the template.
	first := func(t *testing.T, label string, extra map[string]any) sandboxJSON {
		t.Helper()
		start := time.Now()
		sb := e.create(t, extra)
		created := time.Since(start)
		nav := e.action(t, sb.ID, "navigate", map[string]any{"url": formURL})
		t.Logf("figure: create -> first browser_navigate answered (%s, boot %s): %s (the create %s)", label, sb.Boot,
			time.Since(start).Round(time.Millisecond), created.Round(time.Millisecond))
		if nav["title"] != "Form" {
			t.Fatalf("navigate: %v", nav)
		}
		return sb
	}
	sb := first(t, "warm pool", nil)
	other := first(t, "template", nil)
	t.Logf("figure: PSS of an idle browser sandbox (warm): %d MiB; a second, restored from the template: %d MiB", pssMiB(sb.PID), pssMiB(other.PID))

	t.Run("form through refs", func(t *testing.T) {
		e.action(t, sb.ID, "navigate", map[string]any{"url": formURL})
		start := time.Now()
		snap := e.action(t, sb.ID, "snapshot", map[string]any{})
		t.Logf("figure: browser_snapshot of a small page: %s", time.Since(start).Round(time.Millisecond))
		s, _ := snap["snapshot"].(string)
		for _, want := range []string{`heading "Sign up"`, `textbox "Name"`, `button "Send"`} {
			if !strings.Contains(s, want) {
				t.Errorf("snapshot lacks %q:\n%s", want, s)
			}
		}
		if text, _ := snap["text"].(string); !strings.Contains(text, "Sign up") {
			t.Errorf("snapshot text: %q", text)
		}
		e.action(t, sb.ID, "fill", map[string]any{"ref": refOf(t, s, `textbox "Name"`), "value": "Ada"})
		e.action(t, sb.ID, "click", map[string]any{"ref": refOf(t, s, `button "Send"`), "element": "Send button"})
		e.action(t, sb.ID, "wait_for", map[string]any{"text": "Hello, Ada"})
		if text, _ := e.action(t, sb.ID, "snapshot", map[string]any{})["text"].(string); !strings.Contains(text, "Hello, Ada") {
			t.Errorf("after submit the page reads %q, want Hello, Ada", text)
		}
	})

	t.Run("screenshot over REST", func(t *testing.T) {
		status, ctype, data := e.call(t, "POST", "/v1/sandboxes/"+sb.ID+"/actions/browser/take_screenshot", map[string]any{"timeout_s": 600})
		if status != 200 || ctype != "image/png" {
			t.Fatalf("take_screenshot: %d %s %s", status, ctype, clip(data))
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("the screenshot is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 720 {
			t.Errorf("screenshot of %v, want the 1280x720 viewport", b)
		}
	})

	t.Run("MCP image content", func(t *testing.T) {
		out := e.node(t, script, "mcp", "http://"+e.addr+"/mcp", sb.ID)
		if !strings.Contains(out, "screenshot 1280x720") {
			t.Errorf("the MCP client's screenshot:\n%s", out)
		}
	})

	t.Run("Playwright connectOverCDP through the port proxy", func(t *testing.T) {
		port := "/v1/sandboxes/" + sb.ID + "/ports/9222"
		// Behind the token; with it, the WebSocket URL names the proxy.
		resp, err := http.Get("http://" + e.addr + port + "/json/version")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("DevTools without a token: %d, want 401", resp.StatusCode)
		}
		var version struct {
			URL string `json:"webSocketDebuggerUrl"`
		}
		e.must(t, "GET", port+"/json/version", nil, &version)
		if want := "ws://" + e.addr + port + "/devtools/browser/"; !strings.HasPrefix(version.URL, want) {
			t.Errorf("webSocketDebuggerUrl %q, want it under %s", version.URL, want)
		}
		e.node(t, script, "cdp", "http://"+e.addr+port, "Form")
		// The agent's browser still answers after Playwright left.
		if nav := e.action(t, sb.ID, "navigate", map[string]any{"url": formURL}); nav["title"] != "Form" {
			t.Errorf("navigate after Playwright: %v", nav)
		}
	})

	t.Run("cookie in a fork", func(t *testing.T) {
		// A page of a real origin, served inside the guest.
		e.must(t, "PUT", "/v1/sandboxes/"+other.ID+"/workloads/site", map[string]any{
			"command": []string{"python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/tmp"},
			"port":    8000,
		}, nil)
		if st, err := e.d.Manager().Workload(ctx, other.ID, "site", 5*time.Minute); err != nil || !st.Ready {
			t.Fatalf("the page server in the guest: %+v %v", st, err)
		}
		const site = "http://127.0.0.1:8000/"
		e.action(t, other.ID, "navigate", map[string]any{"url": site})
		set := e.action(t, other.ID, "evaluate", map[string]any{"expression": `document.cookie = "who=ada; max-age=86400; path=/"; localStorage.setItem("k", "v"); document.cookie`})
		if set["result"] != "who=ada" {
			t.Fatalf("setting the cookie: %v", set)
		}
		var clones struct {
			Items []sandboxJSON `json:"items"`
		}
		e.must(t, "POST", "/v1/sandboxes/"+other.ID+"/fork", map[string]any{}, &clones)
		if len(clones.Items) != 1 {
			t.Fatalf("fork: %+v", clones)
		}
		clone := clones.Items[0].ID
		e.action(t, clone, "navigate", map[string]any{"url": site})
		got := e.action(t, clone, "evaluate", map[string]any{"expression": `document.cookie + "|" + localStorage.getItem("k")`})
		if got["result"] != "who=ada|v" {
			t.Errorf("in the fork the cookie and local storage read %v, want who=ada|v", got["result"])
		}
		t.Logf("figure: PSS of the fork: %d MiB", pssMiB(clones.Items[0].PID))

		// Stop and start: a cold boot that starts Chromium again (minutes
		// under TCG, so only with VOLANT_BROWSER_COLD). The stop ends the
		// workload first, so Chromium writes its profile out.
		if os.Getenv("VOLANT_BROWSER_COLD") == "" {
			return
		}
		if err := e.d.Manager().Delete(ctx, clone); err != nil {
			t.Fatal(err)
		}
		e.must(t, "POST", "/v1/sandboxes/"+other.ID+"/stop", nil, nil)
		start := time.Now()
		e.must(t, "POST", "/v1/sandboxes/"+other.ID+"/start", nil, nil)
		t.Logf("figure: start of a stopped browser sandbox (a cold boot with Chromium): %s", time.Since(start).Round(time.Second))
		e.must(t, "PUT", "/v1/sandboxes/"+other.ID+"/workloads/site", map[string]any{
			"command": []string{"python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/tmp"},
			"port":    8000,
		}, nil)
		if st, err := e.d.Manager().Workload(ctx, other.ID, "site", 5*time.Minute); err != nil || !st.Ready {
			t.Fatalf("the page server in the guest after the start: %+v %v", st, err)
		}
		e.action(t, other.ID, "navigate", map[string]any{"url": site})
		got = e.action(t, other.ID, "evaluate", map[string]any{"expression": `document.cookie + "|" + localStorage.getItem("k")`})
		if got["result"] != "who=ada|v" {
			t.Errorf("after stop and start the cookie and local storage read %v, want who=ada|v", got["result"])
		}
	})

	t.Run("disable removes the tools", func(t *testing.T) {
		cs := e.mcpClient(t)
		if !hasTool(t, cs, "browser_navigate") {
			t.Fatal("the browser tools are not listed before the disable")
		}
		e.deleteAll(t) // a runtime in use cannot be disabled
		e.volar(t, "plugin", "disable", "browser")
		if hasTool(t, cs, "browser_navigate") {
			t.Error("browser_navigate is still listed after the plugin was disabled")
		}
	})

	if os.Getenv("VOLANT_BROWSER_COLD") != "" {
		t.Run("cold boot figure", func(t *testing.T) {
			e.volar(t, "plugin", "enable", "browser")
			first(t, "cold boot", map[string]any{"cold_boot": true})
		})
	}
}

// volar runs the CLI against the daemon.
func (e *env) volar(t *testing.T, args ...string) string {
	t.Helper()
	if e.volarBin == "" {
		e.volarBin = filepath.Join(e.state, "volar")
		if out, err := exec.Command("go", "build", "-o", e.volarBin, "github.com/volant-sh/volant/cmd/volar").CombinedOutput(); err != nil {
			t.Fatalf("go build volar: %v\n%s", err, out)
		}
	}
	cmd := exec.Command(e.volarBin, args...)
	cmd.Env = append(os.Environ(), "VOLANT_ADDR=http://"+e.addr, "VOLANT_TOKEN="+e.token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("volar %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mcpClient connects the Go MCP client to the daemon's /mcp.
func (e *env) mcpClient(t *testing.T) *sdk.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: bearer{e.token}}
	c := sdk.NewClient(&sdk.Implementation{Name: "browser-guest-test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: "http://" + e.addr + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// bearer adds the token to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func hasTool(t *testing.T, cs *sdk.ClientSession, name string) bool {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		if tool.Name == name {
			return true
		}
	}
	return false
}
