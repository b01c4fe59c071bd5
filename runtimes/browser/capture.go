package browser

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

//go:embed snapshot.js
var snapshotJS string

// Snapshot is what an agent reads of a page.
type Snapshot struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	// Snapshot is the outline of the page, one element a line, with the
	// refs to act on ("[ref=e3]").
	Snapshot string `json:"snapshot"`
	// Text is the page's visible text.
	Text string `json:"text"`
}

// Snapshot outlines the page.
func (t *Tab) Snapshot(ctx context.Context) (*Snapshot, error) {
	var s Snapshot
	if err := t.eval(ctx, snapshotJS, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ScreenshotOptions choose what a screenshot shows.
type ScreenshotOptions struct {
	// FullPage captures the whole page, not only the viewport.
	FullPage bool `json:"full_page,omitempty"`
	// Type is "png" (default) or "jpeg".
	Type string `json:"type,omitempty"`
	// Quality is JPEG's, 0-100.
	Quality int `json:"quality,omitempty"`
	Target
}

// Screenshot captures the viewport, the full page or one element; it
// returns the image and its MIME type.
func (t *Tab) Screenshot(ctx context.Context, o ScreenshotOptions) ([]byte, string, error) {
	format := o.Type
	switch format {
	case "", "png":
		format = "png"
	case "jpeg", "jpg":
		format = "jpeg"
	default:
		return nil, "", &inputError{fmt.Sprintf("type %q: use png or jpeg", o.Type)}
	}
	if o.Quality < 0 || o.Quality > 100 {
		return nil, "", &inputError{"quality: between 0 and 100"}
	}
	p := map[string]any{"format": format}
	if format == "jpeg" && o.Quality > 0 {
		p["quality"] = o.Quality
	}
	switch {
	case !o.Target.empty():
		if o.FullPage {
			return nil, "", &inputError{"full_page and an element exclude each other"}
		}
		el, err := t.element(ctx, o.Target)
		if err != nil {
			return nil, "", err
		}
		defer t.release(el)
		raw, err := t.callOn(ctx, el, `function(el) {
			el.scrollIntoView({block: "center", inline: "center", behavior: "instant"});
			const r = el.getBoundingClientRect();
			return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height};
		}`)
		if err != nil {
			return nil, "", err
		}
		var clip map[string]float64
		if err := json.Unmarshal(raw, &clip); err != nil {
			return nil, "", err
		}
		if clip["width"] == 0 || clip["height"] == 0 {
			return nil, "", &inputError{fmt.Sprintf("%s has no size to capture", o.Target.describe())}
		}
		clip["scale"] = 1
		p["clip"] = clip
		p["captureBeyondViewport"] = true
	case o.FullPage:
		var m struct {
			CSSContentSize struct {
				Width  float64 `json:"width"`
				Height float64 `json:"height"`
			} `json:"cssContentSize"`
		}
		if err := t.call(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
			return nil, "", err
		}
		p["clip"] = map[string]float64{"x": 0, "y": 0, "width": m.CSSContentSize.Width, "height": m.CSSContentSize.Height, "scale": 1}
		p["captureBeyondViewport"] = true
	}
	var res struct {
		Data string `json:"data"`
	}
	if err := t.call(ctx, "Page.captureScreenshot", p, &res); err != nil {
		return nil, "", err
	}
	img, err := base64.StdEncoding.DecodeString(res.Data)
	return img, "image/" + format, err
}

// PDF prints the page.
func (t *Tab) PDF(ctx context.Context, landscape bool) ([]byte, error) {
	var res struct {
		Data string `json:"data"`
	}
	if err := t.call(ctx, "Page.printToPDF", map[string]any{"printBackground": true, "landscape": landscape}, &res); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(res.Data)
}

// WaitOptions say what to wait for; exactly one of Text, TextGone,
// Selector or Time.
type WaitOptions struct {
	Text     string `json:"text,omitempty"`
	TextGone string `json:"text_gone,omitempty"`
	Selector string `json:"selector,omitempty"`
	// State of Selector: "visible" (default), "attached", "hidden".
	State string  `json:"state,omitempty"`
	Time  float64 `json:"time_s,omitempty"`
}

// WaitFor waits until the page shows (or stops showing) a text or an
// element, or for a time; ctx bounds it.
func (t *Tab) WaitFor(ctx context.Context, o WaitOptions) error {
	set := 0
	for _, s := range []string{o.Text, o.TextGone, o.Selector} {
		if s != "" {
			set++
		}
	}
	if o.Time > 0 {
		set++
	}
	if set != 1 {
		return &inputError{"give exactly one of text, text_gone, selector or time_s"}
	}
	if o.Time > 0 {
		select {
		case <-time.After(time.Duration(o.Time * float64(time.Second))):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var expr string
	switch {
	case o.Text != "":
		q, _ := json.Marshal(o.Text)
		expr = fmt.Sprintf("(document.body && document.body.innerText.includes(%s))", q)
	case o.TextGone != "":
		q, _ := json.Marshal(o.TextGone)
		expr = fmt.Sprintf("!(document.body && document.body.innerText.includes(%s))", q)
	default:
		q, _ := json.Marshal(o.Selector)
		switch o.State {
		case "", "visible":
			expr = fmt.Sprintf("(() => { const e = document.querySelector(%s); if (!e) return false; const r = e.getBoundingClientRect(); const s = getComputedStyle(e); return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'; })()", q)
		case "attached":
			expr = fmt.Sprintf("document.querySelector(%s) !== null", q)
		case "hidden":
			expr = fmt.Sprintf("(() => { const e = document.querySelector(%s); if (!e) return true; const r = e.getBoundingClientRect(); return r.width === 0 || r.height === 0 || getComputedStyle(e).visibility === 'hidden'; })()", q)
		default:
			return &inputError{fmt.Sprintf("state %q: use visible, attached or hidden", o.State)}
		}
	}
	for {
		var ok bool
		err := t.eval(ctx, expr, &ok)
		if err != nil && strings.Contains(err.Error(), "SyntaxError") {
			return &inputError{fmt.Sprintf("selector %q is not valid CSS", o.Selector)}
		}
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
