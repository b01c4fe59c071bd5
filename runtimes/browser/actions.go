package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
)

// Requests of the actions. Their field tags are the OpenAPI document's
// schemas (jsonschema descriptions), so the document cannot drift.

// TargetFields name an element.
type TargetFields struct {
	Ref      string `json:"ref,omitempty" jsonschema:"the element's ref from the last snapshot, such as e3"`
	Selector string `json:"selector,omitempty" jsonschema:"a CSS selector, instead of ref"`
	Element  string `json:"element,omitempty" jsonschema:"what the element is, in words (for messages)"`
}

func (f TargetFields) target() Target {
	return Target{Ref: f.Ref, Selector: f.Selector, Element: f.Element}
}

// Timeout is the common timeout field.
type Timeout struct {
	TimeoutS float64 `json:"timeout_s,omitempty" jsonschema:"give up after this many seconds (default 60, at most 600)"`
}

func (t Timeout) duration() (float64, error) {
	switch {
	case t.TimeoutS == 0:
		return 60, nil
	case t.TimeoutS < 0 || t.TimeoutS > 600:
		return 0, &inputError{fmt.Sprintf("timeout_s %g: between 0 (the default, 60) and 600", t.TimeoutS)}
	}
	return t.TimeoutS, nil
}

type navigateReq struct {
	URL       string `json:"url" jsonschema:"the address to open (http, https, data, about or file)"`
	WaitUntil string `json:"wait_until,omitempty" jsonschema:"load (default), domcontentloaded, networkidle or commit"`
	Timeout
}
type noReq struct{ Timeout }
type clickReq struct {
	TargetFields
	DoubleClick bool `json:"double_click,omitempty" jsonschema:"click twice"`
	Timeout
}
type typeReq struct {
	TargetFields
	Text   string `json:"text" jsonschema:"the text to type"`
	Slowly bool   `json:"slowly,omitempty" jsonschema:"type key by key, firing key events for each character"`
	Submit bool   `json:"submit,omitempty" jsonschema:"press Enter after"`
	Timeout
}
type fillReq struct {
	TargetFields
	Value string `json:"value" jsonschema:"the field's new value"`
	Timeout
}
type pressReq struct {
	Key string `json:"key" jsonschema:"a key name (Enter, Tab, Escape, Backspace, ArrowDown, ...) or one character"`
	Timeout
}
type selectReq struct {
	TargetFields
	Values []string `json:"values" jsonschema:"the values or labels of the options to select"`
	Timeout
}
type hoverReq struct {
	TargetFields
	Timeout
}
type scrollReq struct {
	TargetFields
	DX int `json:"dx,omitempty" jsonschema:"pixels to scroll right (without an element)"`
	DY int `json:"dy,omitempty" jsonschema:"pixels to scroll down (without an element)"`
	Timeout
}
type evaluateReq struct {
	TargetFields
	Expression string `json:"expression" jsonschema:"JavaScript: an expression, or with ref/selector a function taking the element, such as (el) => el.textContent"`
	Timeout
}
type screenshotReq struct {
	TargetFields
	FullPage bool   `json:"full_page,omitempty" jsonschema:"the whole page, not only the viewport"`
	Type     string `json:"type,omitempty" jsonschema:"png (default) or jpeg"`
	Quality  int    `json:"quality,omitempty" jsonschema:"JPEG quality, 0-100"`
	Timeout
}
type pdfReq struct {
	Landscape bool `json:"landscape,omitempty" jsonschema:"print in landscape"`
	Timeout
}
type tabsReq struct {
	Action string `json:"action" jsonschema:"list, new, select or close"`
	Index  *int   `json:"index,omitempty" jsonschema:"the tab to select or close (from list); close defaults to the current one"`
	URL    string `json:"url,omitempty" jsonschema:"with new: the address to open"`
	Timeout
}
type waitReq struct {
	Text     string  `json:"text,omitempty" jsonschema:"wait until the page shows this text"`
	TextGone string  `json:"text_gone,omitempty" jsonschema:"wait until the page no longer shows this text"`
	Selector string  `json:"selector,omitempty" jsonschema:"wait until an element matches this CSS selector"`
	State    string  `json:"state,omitempty" jsonschema:"with selector: visible (default), attached or hidden"`
	Time     float64 `json:"time_s,omitempty" jsonschema:"wait this many seconds"`
	Timeout
}
type clearReq struct {
	Clear bool `json:"clear,omitempty" jsonschema:"forget what was returned"`
}
type resizeReq struct {
	Width  int `json:"width" jsonschema:"viewport width in CSS pixels"`
	Height int `json:"height" jsonschema:"viewport height in CSS pixels"`
	Timeout
}

// answer is what an action returns: JSON, or bytes of a media type.
type answer struct {
	json  any
	bytes []byte
	media string
}

// action is one route of the service and one tool of the plugin.
type action struct {
	name    string
	summary string
	req     reflect.Type
	// media is the content type of a binary answer; "" means JSON.
	media []string
	run   func(ctx context.Context, s *Service, body json.RawMessage) (answer, error)
}

func decode[T any](body json.RawMessage) (T, error) {
	var v T
	if len(body) == 0 {
		body = json.RawMessage("{}")
	}
	if err := strictUnmarshal(body, &v); err != nil {
		return v, &inputError{"the request body: " + err.Error()}
	}
	return v, nil
}

// act makes an action on the current tab of a request type T.
func act[T any](name, summary string, media []string, fn func(ctx context.Context, s *Service, t *Tab, req T) (answer, error)) action {
	return action{
		name: name, summary: summary, req: reflect.TypeFor[T](), media: media,
		run: func(ctx context.Context, s *Service, body json.RawMessage) (answer, error) {
			req, err := decode[T](body)
			if err != nil {
				return answer{}, err
			}
			tab, err := s.browser.Current()
			if err != nil {
				return answer{}, err
			}
			return fn(ctx, s, tab, req)
		},
	}
}

func page(info *PageInfo, err error) (answer, error) { return answer{json: info}, err }

func ok(err error) (answer, error) { return answer{json: map[string]bool{"ok": true}}, err }

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return &inputError{fmt.Sprintf("url %q: give an absolute address such as https://example.com/", raw)}
	}
	switch u.Scheme {
	case "http", "https", "data", "about", "file":
		return nil
	}
	return &inputError{fmt.Sprintf("url %q: the scheme must be http, https, data, about or file", raw)}
}

// actions lists every action, in the order of the OpenAPI document.
var actions = []action{
	act("navigate", "Open a URL in the current tab and wait until it has loaded", nil,
		func(ctx context.Context, s *Service, t *Tab, r navigateReq) (answer, error) {
			if err := checkURL(r.URL); err != nil {
				return answer{}, err
			}
			return page(t.Navigate(ctx, r.URL, r.WaitUntil))
		}),
	act("navigate_back", "Go back to the previous page", nil,
		func(ctx context.Context, s *Service, t *Tab, r noReq) (answer, error) {
			return page(t.History(ctx, -1))
		}),
	act("navigate_forward", "Go forward to the next page", nil,
		func(ctx context.Context, s *Service, t *Tab, r noReq) (answer, error) { return page(t.History(ctx, 1)) }),
	act("reload", "Reload the current page", nil,
		func(ctx context.Context, s *Service, t *Tab, r noReq) (answer, error) { return page(t.Reload(ctx)) }),
	act("snapshot", "Read the page: its visible text and an outline of its elements with refs to act on", nil,
		func(ctx context.Context, s *Service, t *Tab, r noReq) (answer, error) {
			snap, err := t.Snapshot(ctx)
			return answer{json: snap}, err
		}),
	act("click", "Click an element (by ref from a snapshot, or a CSS selector)", nil,
		func(ctx context.Context, s *Service, t *Tab, r clickReq) (answer, error) {
			return ok(t.Click(ctx, r.target(), r.DoubleClick))
		}),
	act("type", "Type text into an element, optionally pressing Enter after", nil,
		func(ctx context.Context, s *Service, t *Tab, r typeReq) (answer, error) {
			return ok(t.Type(ctx, r.target(), r.Text, r.Slowly, r.Submit))
		}),
	act("fill", "Set the value of a text field at once, replacing its content", nil,
		func(ctx context.Context, s *Service, t *Tab, r fillReq) (answer, error) {
			return ok(t.Fill(ctx, r.target(), r.Value))
		}),
	act("press_key", "Press a key in the page", nil,
		func(ctx context.Context, s *Service, t *Tab, r pressReq) (answer, error) {
			return ok(t.PressKey(ctx, r.Key))
		}),
	act("select_option", "Select options of a <select> by value or label", nil,
		func(ctx context.Context, s *Service, t *Tab, r selectReq) (answer, error) {
			if len(r.Values) == 0 {
				return answer{}, &inputError{"values: give at least one option value or label"}
			}
			picked, err := t.SelectOption(ctx, r.target(), r.Values)
			return answer{json: map[string]json.RawMessage{"selected": picked}}, err
		}),
	act("hover", "Move the mouse over an element", nil,
		func(ctx context.Context, s *Service, t *Tab, r hoverReq) (answer, error) {
			return ok(t.Hover(ctx, r.target()))
		}),
	act("scroll", "Scroll an element into view, or the page by dx/dy pixels", nil,
		func(ctx context.Context, s *Service, t *Tab, r scrollReq) (answer, error) {
			return ok(t.Scroll(ctx, r.target(), r.DX, r.DY))
		}),
	act("evaluate", "Run JavaScript in the page and return its (JSON) value", nil,
		func(ctx context.Context, s *Service, t *Tab, r evaluateReq) (answer, error) {
			if r.Expression == "" {
				return answer{}, &inputError{"expression: give the JavaScript to run"}
			}
			v, err := t.Evaluate(ctx, r.Expression, r.target())
			return answer{json: map[string]json.RawMessage{"result": v}}, err
		}),
	act("take_screenshot", "Take a screenshot of the viewport, the full page or one element", []string{"image/png", "image/jpeg"},
		func(ctx context.Context, s *Service, t *Tab, r screenshotReq) (answer, error) {
			img, media, err := t.Screenshot(ctx, ScreenshotOptions{FullPage: r.FullPage, Type: r.Type, Quality: r.Quality, Target: r.target()})
			return answer{bytes: img, media: media}, err
		}),
	act("pdf", "Print the page as PDF", []string{"application/pdf"},
		func(ctx context.Context, s *Service, t *Tab, r pdfReq) (answer, error) {
			b, err := t.PDF(ctx, r.Landscape)
			return answer{bytes: b, media: "application/pdf"}, err
		}),
	{
		name: "tabs", summary: "List, open, select or close tabs", req: reflect.TypeFor[tabsReq](),
		run: func(ctx context.Context, s *Service, body json.RawMessage) (answer, error) {
			r, err := decode[tabsReq](body)
			if err != nil {
				return answer{}, err
			}
			return s.tabs(ctx, r)
		},
	},
	act("wait_for", "Wait until a text appears or disappears, an element is visible, or some seconds pass", nil,
		func(ctx context.Context, s *Service, t *Tab, r waitReq) (answer, error) {
			return ok(t.WaitFor(ctx, WaitOptions{Text: r.Text, TextGone: r.TextGone, Selector: r.Selector, State: r.State, Time: r.Time}))
		}),
	act("console_messages", "The page's console messages and uncaught errors", nil,
		func(ctx context.Context, s *Service, t *Tab, r clearReq) (answer, error) {
			return answer{json: map[string]any{"messages": t.Console(r.Clear)}}, nil
		}),
	act("network_requests", "The requests the page made, with their status", nil,
		func(ctx context.Context, s *Service, t *Tab, r clearReq) (answer, error) {
			return answer{json: map[string]any{"requests": t.Requests(r.Clear)}}, nil
		}),
	act("resize", "Resize the viewport", nil,
		func(ctx context.Context, s *Service, t *Tab, r resizeReq) (answer, error) {
			return ok(t.Resize(ctx, r.Width, r.Height))
		}),
}

// TabInfo is one tab in a tabs answer.
type TabInfo struct {
	Index   int    `json:"index"`
	URL     string `json:"url"`
	Title   string `json:"title"`
	Current bool   `json:"current"`
}

func (s *Service) tabs(ctx context.Context, r tabsReq) (answer, error) {
	switch r.Action {
	case "list":
	case "new":
		if r.URL != "" {
			if err := checkURL(r.URL); err != nil {
				return answer{}, err
			}
		}
		if _, err := s.browser.NewTab(ctx, r.URL); err != nil {
			return answer{}, err
		}
	case "select":
		if r.Index == nil {
			return answer{}, &inputError{"index: give the tab to select (see tabs list)"}
		}
		if _, err := s.browser.Select(ctx, *r.Index); err != nil {
			return answer{}, err
		}
	case "close":
		i := -1
		if r.Index != nil {
			i = *r.Index
		} else if cur, err := s.browser.Current(); err == nil {
			for j, t := range s.browser.Tabs() {
				if t == cur {
					i = j
				}
			}
		}
		if err := s.browser.CloseTab(ctx, i); err != nil {
			return answer{}, err
		}
	default:
		return answer{}, &inputError{fmt.Sprintf("action %q: use list, new, select or close", r.Action)}
	}
	cur, _ := s.browser.Current()
	var out []TabInfo
	for i, t := range s.browser.Tabs() {
		info, err := t.Info(ctx)
		if err != nil {
			info = &PageInfo{}
		}
		out = append(out, TabInfo{Index: i, URL: info.URL, Title: info.Title, Current: t == cur})
	}
	return answer{json: map[string]any{"tabs": out}}, nil
}
