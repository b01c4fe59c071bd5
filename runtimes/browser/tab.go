package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// ringSize bounds the console messages and network requests a tab keeps.
const ringSize = 500

// Tab is one page target with its own DevTools session.
type Tab struct {
	b       *Browser
	id      string
	session string

	mu sync.Mutex
	// lifecycle holds the lifecycle events of the main frame's current
	// loader; waiters are woken on every change.
	frameID   string
	loaderID  string
	lifecycle map[string]bool
	changed   chan struct{}
	closed    bool
	console   []ConsoleMessage
	requests  []*Request
	byReqID   map[string]*Request
	docStatus map[string]int // loader id -> main document's HTTP status
}

// ConsoleMessage is one message the page logged, or an uncaught error.
type ConsoleMessage struct {
	Type string    `json:"type"`
	Text string    `json:"text"`
	URL  string    `json:"url,omitempty"`
	Line int       `json:"line,omitempty"`
	Time time.Time `json:"time"`
}

// Request is one network request the page made.
type Request struct {
	ID       string `json:"-"`
	Method   string `json:"method"`
	URL      string `json:"url"`
	Type     string `json:"resource_type,omitempty"`
	Status   int    `json:"status,omitempty"`
	MimeType string `json:"mime_type,omitempty"`
	Failed   string `json:"failed,omitempty"`
}

func newTab(b *Browser, id, session string) *Tab {
	return &Tab{b: b, id: id, session: session, lifecycle: map[string]bool{}, changed: make(chan struct{}),
		byReqID: map[string]*Request{}, docStatus: map[string]int{}}
}

// call sends a command in the tab's session.
func (t *Tab) call(ctx context.Context, method string, params, out any) error {
	return t.b.conn.call(ctx, t.session, method, params, out)
}

// enable turns on the events the tab follows and sizes its viewport.
func (t *Tab) enable(ctx context.Context) error {
	for _, m := range []string{"Page.enable", "Runtime.enable", "Network.enable", "Log.enable"} {
		if err := t.call(ctx, m, nil, nil); err != nil {
			return err
		}
	}
	if err := t.call(ctx, "Page.setLifecycleEventsEnabled", map[string]any{"enabled": true}, nil); err != nil {
		return err
	}
	var tree struct {
		FrameTree struct {
			Frame struct {
				ID       string `json:"id"`
				LoaderID string `json:"loaderId"`
			} `json:"frame"`
		} `json:"frameTree"`
	}
	if err := t.call(ctx, "Page.getFrameTree", nil, &tree); err != nil {
		return err
	}
	t.mu.Lock()
	t.frameID = tree.FrameTree.Frame.ID
	if t.loaderID == "" {
		t.loaderID = tree.FrameTree.Frame.LoaderID
	}
	t.mu.Unlock()
	return t.Resize(ctx, t.b.cfg.Width, t.b.cfg.Height)
}

// gone marks the tab closed and wakes its waiters.
func (t *Tab) gone() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.wakeLocked()
}

func (t *Tab) wakeLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// event handles one DevTools event of this tab.
func (t *Tab) event(method string, params json.RawMessage) {
	switch method {
	case "Page.lifecycleEvent":
		var p struct {
			FrameID  string `json:"frameId"`
			LoaderID string `json:"loaderId"`
			Name     string `json:"name"`
		}
		if json.Unmarshal(params, &p) != nil {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if p.FrameID != t.frameID && t.frameID != "" {
			return
		}
		if p.Name == "init" || p.LoaderID != t.loaderID {
			t.loaderID = p.LoaderID
			t.lifecycle = map[string]bool{}
		}
		t.lifecycle[p.Name] = true
		t.wakeLocked()
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(params, &p) != nil {
			return
		}
		text := ""
		for i, a := range p.Args {
			if i > 0 {
				text += " "
			}
			if a.Value != nil {
				if s, ok := a.Value.(string); ok {
					text += s
				} else {
					b, _ := json.Marshal(a.Value)
					text += string(b)
				}
			} else {
				text += a.Description
			}
		}
		t.addConsole(ConsoleMessage{Type: p.Type, Text: text, Time: time.Now()})
	case "Runtime.exceptionThrown":
		var p struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				URL       string `json:"url"`
				Line      int    `json:"lineNumber"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		if json.Unmarshal(params, &p) != nil {
			return
		}
		d := p.ExceptionDetails
		text := d.Exception.Description
		if text == "" {
			text = d.Text
		}
		t.addConsole(ConsoleMessage{Type: "error", Text: text, URL: d.URL, Line: d.Line, Time: time.Now()})
	case "Network.requestWillBeSent":
		var p struct {
			RequestID string `json:"requestId"`
			LoaderID  string `json:"loaderId"`
			Type      string `json:"type"`
			Request   struct {
				Method string `json:"method"`
				URL    string `json:"url"`
			} `json:"request"`
		}
		if json.Unmarshal(params, &p) != nil {
			return
		}
		t.mu.Lock()
		r := &Request{ID: p.RequestID, Method: p.Request.Method, URL: p.Request.URL, Type: p.Type}
		t.byReqID[p.RequestID] = r
		t.requests = append(t.requests, r)
		if len(t.requests) > ringSize {
			delete(t.byReqID, t.requests[0].ID)
			t.requests = t.requests[1:]
		}
		t.mu.Unlock()
	case "Network.responseReceived":
		var p struct {
			RequestID string `json:"requestId"`
			LoaderID  string `json:"loaderId"`
			Type      string `json:"type"`
			Response  struct {
				Status   int    `json:"status"`
				MimeType string `json:"mimeType"`
			} `json:"response"`
		}
		if json.Unmarshal(params, &p) != nil {
			return
		}
		t.mu.Lock()
		if r := t.byReqID[p.RequestID]; r != nil {
			r.Status, r.MimeType = p.Response.Status, p.Response.MimeType
		}
		if p.Type == "Document" {
			t.docStatus[p.LoaderID] = p.Response.Status
		}
		t.mu.Unlock()
	case "Network.loadingFailed":
		var p struct {
			RequestID string `json:"requestId"`
			ErrorText string `json:"errorText"`
		}
		if json.Unmarshal(params, &p) != nil {
			return
		}
		t.mu.Lock()
		if r := t.byReqID[p.RequestID]; r != nil {
			r.Failed = p.ErrorText
		}
		t.mu.Unlock()
	}
}

func (t *Tab) addConsole(m ConsoleMessage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.console = append(t.console, m)
	if len(t.console) > ringSize {
		t.console = t.console[1:]
	}
}

// Console returns the messages logged since the tab opened (the last
// ringSize), and clears them if clear is set.
func (t *Tab) Console(clear bool) []ConsoleMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]ConsoleMessage(nil), t.console...)
	if clear {
		t.console = nil
	}
	return out
}

// Requests returns the network requests seen (the last ringSize).
func (t *Tab) Requests(clear bool) []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Request, len(t.requests))
	for i, r := range t.requests {
		out[i] = *r
	}
	if clear {
		t.requests = nil
		t.byReqID = map[string]*Request{}
	}
	return out
}

// waitLifecycle waits until the current loader has fired the lifecycle
// event name ("load", "DOMContentLoaded", "networkIdle").
func (t *Tab) waitLifecycle(ctx context.Context, loaderID, name string) error {
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return fmt.Errorf("the tab was closed")
		}
		done := (loaderID == "" || t.loaderID == loaderID) && t.lifecycle[name]
		ch := t.changed
		t.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lifecycleName maps the wait_until values agents use to Chromium's
// lifecycle event names.
func lifecycleName(waitUntil string) (string, error) {
	switch waitUntil {
	case "", "load":
		return "load", nil
	case "domcontentloaded":
		return "DOMContentLoaded", nil
	case "networkidle":
		return "networkIdle", nil
	case "commit":
		return "commit", nil
	}
	return "", &inputError{fmt.Sprintf("wait_until %q: use load, domcontentloaded, networkidle or commit", waitUntil)}
}

// PageInfo is where a tab is.
type PageInfo struct {
	URL    string `json:"url"`
	Title  string `json:"title"`
	Status int    `json:"status,omitempty"`
}

// Navigate loads url and waits for waitUntil.
func (t *Tab) Navigate(ctx context.Context, url, waitUntil string) (*PageInfo, error) {
	name, err := lifecycleName(waitUntil)
	if err != nil {
		return nil, err
	}
	var res struct {
		FrameID   string `json:"frameId"`
		LoaderID  string `json:"loaderId"`
		ErrorText string `json:"errorText"`
	}
	if err := t.call(ctx, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return nil, err
	}
	if res.ErrorText != "" {
		return nil, &inputError{fmt.Sprintf("navigating to %s failed: %s", url, res.ErrorText)}
	}
	if name != "commit" {
		// A same-document navigation (a #fragment) has no new loader.
		if err := t.waitLifecycle(ctx, res.LoaderID, name); err != nil {
			return nil, fmt.Errorf("waiting for %s of %s: %w", name, url, err)
		}
	}
	info, err := t.Info(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	info.Status = t.docStatus[res.LoaderID]
	t.mu.Unlock()
	return info, nil
}

// Info returns the tab's URL and title.
func (t *Tab) Info(ctx context.Context) (*PageInfo, error) {
	var v struct {
		URL   string `json:"url"`
		Title string `json:"title"`
	}
	if err := t.eval(ctx, "({url: location.href, title: document.title})", &v); err != nil {
		return nil, err
	}
	return &PageInfo{URL: v.URL, Title: v.Title}, nil
}

// History moves back (-1) or forward (+1) and waits for the page to load.
func (t *Tab) History(ctx context.Context, delta int) (*PageInfo, error) {
	var h struct {
		CurrentIndex int `json:"currentIndex"`
		Entries      []struct {
			ID int `json:"id"`
		} `json:"entries"`
	}
	if err := t.call(ctx, "Page.getNavigationHistory", nil, &h); err != nil {
		return nil, err
	}
	i := h.CurrentIndex + delta
	if i < 0 || i >= len(h.Entries) {
		where := "back"
		if delta > 0 {
			where = "forward"
		}
		return nil, &inputError{fmt.Sprintf("there is no page to go %s to", where)}
	}
	if err := t.call(ctx, "Page.navigateToHistoryEntry", map[string]any{"entryId": h.Entries[i].ID}, nil); err != nil {
		return nil, err
	}
	return t.settle(ctx)
}

// Reload reloads the page and waits for it to load.
func (t *Tab) Reload(ctx context.Context) (*PageInfo, error) {
	t.mu.Lock()
	t.lifecycle = map[string]bool{}
	t.mu.Unlock()
	if err := t.call(ctx, "Page.reload", nil, nil); err != nil {
		return nil, err
	}
	return t.settle(ctx)
}

// settle waits until the page reports complete, then returns its info.
func (t *Tab) settle(ctx context.Context) (*PageInfo, error) {
	for {
		var state string
		if err := t.eval(ctx, "document.readyState", &state); err == nil && state == "complete" {
			return t.Info(ctx)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the page to load: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Resize sets the viewport.
func (t *Tab) Resize(ctx context.Context, width, height int) error {
	if width < 1 || height < 1 || width > 8192 || height > 8192 {
		return &inputError{fmt.Sprintf("size %dx%d: width and height must be between 1 and 8192", width, height)}
	}
	return t.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false,
	}, nil)
}
