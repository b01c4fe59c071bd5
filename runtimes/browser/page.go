package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// remoteObject is a CDP Runtime.RemoteObject.
type remoteObject struct {
	Type        string          `json:"type"`
	Subtype     string          `json:"subtype,omitempty"`
	Value       json.RawMessage `json:"value,omitempty"`
	Description string          `json:"description,omitempty"`
	ObjectID    string          `json:"objectId,omitempty"`
}

type exceptionDetails struct {
	Text      string        `json:"text"`
	Exception *remoteObject `json:"exception,omitempty"`
}

// jsError is an exception the page's JavaScript threw.
type jsError struct{ msg string }

func (e *jsError) Error() string { return "the page's JavaScript threw: " + e.msg }

func (d *exceptionDetails) err() error {
	msg := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		msg = d.Exception.Description
	}
	return &jsError{msg}
}

// eval evaluates expression in the page and decodes its value into out.
func (t *Tab) eval(ctx context.Context, expression string, out any) error {
	var res struct {
		Result           remoteObject      `json:"result"`
		ExceptionDetails *exceptionDetails `json:"exceptionDetails"`
	}
	err := t.call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expression, "returnByValue": true, "awaitPromise": true, "userGesture": true,
	}, &res)
	if err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return res.ExceptionDetails.err()
	}
	if out == nil || len(res.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(res.Result.Value, out)
}

// Evaluate runs an agent's JavaScript: an expression, or a function
// called with the element of target as its argument.
func (t *Tab) Evaluate(ctx context.Context, expression string, target Target) (json.RawMessage, error) {
	if !target.empty() {
		el, err := t.element(ctx, target)
		if err != nil {
			return nil, err
		}
		defer t.release(el)
		return t.callOn(ctx, el, "function(el) { return ("+expression+")(el); }")
	}
	var res struct {
		Result           remoteObject      `json:"result"`
		ExceptionDetails *exceptionDetails `json:"exceptionDetails"`
	}
	if err := t.call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expression, "returnByValue": true, "awaitPromise": true, "userGesture": true, "replMode": true,
	}, &res); err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		return nil, res.ExceptionDetails.err()
	}
	return valueOf(res.Result), nil
}

func valueOf(r remoteObject) json.RawMessage {
	if len(r.Value) > 0 {
		return r.Value
	}
	if r.Type == "undefined" {
		return json.RawMessage("null")
	}
	b, _ := json.Marshal(r.Description)
	return b
}

// Target names an element: a ref from the last snapshot, or a CSS
// selector.
type Target struct {
	Ref      string `json:"ref,omitempty"`
	Selector string `json:"selector,omitempty"`
	// Element describes the element for people; only for messages.
	Element string `json:"element,omitempty"`
}

func (tg Target) empty() bool { return tg.Ref == "" && tg.Selector == "" }

var refRE = regexp.MustCompile(`^e[0-9]{1,7}$`)

func (tg Target) validate() error {
	switch {
	case tg.Ref != "" && tg.Selector != "":
		return &inputError{"give ref or selector, not both"}
	case tg.empty():
		return &inputError{"give the element's ref (from a snapshot, such as \"e3\") or a CSS selector"}
	case tg.Ref != "" && !refRE.MatchString(tg.Ref):
		return &inputError{fmt.Sprintf("ref %q: refs look like e3; take a snapshot to see them", tg.Ref)}
	case len(tg.Selector) > 4096:
		return &inputError{"selector: at most 4096 characters"}
	}
	return nil
}

func (tg Target) describe() string {
	if tg.Element != "" {
		return fmt.Sprintf("%q", tg.Element)
	}
	if tg.Ref != "" {
		return "ref " + tg.Ref
	}
	return fmt.Sprintf("selector %q", tg.Selector)
}

// element resolves target to a remote object id.
func (t *Tab) element(ctx context.Context, tg Target) (string, error) {
	if err := tg.validate(); err != nil {
		return "", err
	}
	sel := tg.Selector
	if tg.Ref != "" {
		sel = fmt.Sprintf(`[data-volant-ref=%q]`, tg.Ref)
	}
	q, _ := json.Marshal(sel)
	var res struct {
		Result           remoteObject      `json:"result"`
		ExceptionDetails *exceptionDetails `json:"exceptionDetails"`
	}
	if err := t.call(ctx, "Runtime.evaluate", map[string]any{"expression": "document.querySelector(" + string(q) + ")"}, &res); err != nil {
		return "", err
	}
	if res.ExceptionDetails != nil {
		return "", &inputError{fmt.Sprintf("selector %q is not valid CSS: %s", tg.Selector, res.ExceptionDetails.err())}
	}
	if res.Result.ObjectID == "" || res.Result.Subtype == "null" {
		if tg.Ref != "" {
			return "", &notFoundError{fmt.Sprintf("%s is not on the page any more; take a new snapshot and use its refs", tg.describe())}
		}
		return "", &notFoundError{fmt.Sprintf("no element matches %s", tg.describe())}
	}
	return res.Result.ObjectID, nil
}

func (t *Tab) release(objectID string) {
	_ = t.call(context.Background(), "Runtime.releaseObject", map[string]any{"objectId": objectID}, nil)
}

// callOn calls fn (a function declaration taking the element) on el.
func (t *Tab) callOn(ctx context.Context, el, fn string, args ...any) (json.RawMessage, error) {
	cargs := []map[string]any{{"objectId": el}}
	for _, a := range args {
		cargs = append(cargs, map[string]any{"value": a})
	}
	var res struct {
		Result           remoteObject      `json:"result"`
		ExceptionDetails *exceptionDetails `json:"exceptionDetails"`
	}
	if err := t.call(ctx, "Runtime.callFunctionOn", map[string]any{
		"objectId": el, "functionDeclaration": fn, "arguments": cargs,
		"returnByValue": true, "awaitPromise": true, "userGesture": true,
	}, &res); err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		return nil, res.ExceptionDetails.err()
	}
	return valueOf(res.Result), nil
}

// center scrolls el into view and returns its centre in viewport
// coordinates, or an error if it has no box (hidden).
func (t *Tab) center(ctx context.Context, el string, tg Target) (x, y float64, err error) {
	raw, err := t.callOn(ctx, el, `function(el) {
		el.scrollIntoView({block: "center", inline: "center", behavior: "instant"});
		const r = el.getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height};
	}`)
	if err != nil {
		return 0, 0, err
	}
	var box struct{ X, Y, W, H float64 }
	if err := json.Unmarshal(raw, &box); err != nil {
		return 0, 0, err
	}
	if box.W == 0 && box.H == 0 {
		return 0, 0, &inputError{fmt.Sprintf("%s is not visible (it has no size); wait_for it or act on another element", tg.describe())}
	}
	return box.X, box.Y, nil
}

// text normalises white space for messages and matching.
func text(s string) string { return strings.Join(strings.Fields(s), " ") }
