package browser

import (
	"context"
	"fmt"
)

// mouse dispatches a mouse event at x, y.
func (t *Tab) mouse(ctx context.Context, typ string, x, y float64, clicks int) error {
	p := map[string]any{"type": typ, "x": x, "y": y}
	if typ != "mouseMoved" {
		p["button"] = "left"
		p["clickCount"] = clicks
	}
	return t.call(ctx, "Input.dispatchMouseEvent", p, nil)
}

// Click clicks the element's centre with real mouse events.
func (t *Tab) Click(ctx context.Context, tg Target, double bool) error {
	el, err := t.element(ctx, tg)
	if err != nil {
		return err
	}
	defer t.release(el)
	x, y, err := t.center(ctx, el, tg)
	if err != nil {
		return err
	}
	clicks := 1
	if double {
		clicks = 2
	}
	for _, ev := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		if err := t.mouse(ctx, ev, x, y, clicks); err != nil {
			return err
		}
	}
	return nil
}

// Hover moves the mouse over the element.
func (t *Tab) Hover(ctx context.Context, tg Target) error {
	el, err := t.element(ctx, tg)
	if err != nil {
		return err
	}
	defer t.release(el)
	x, y, err := t.center(ctx, el, tg)
	if err != nil {
		return err
	}
	return t.mouse(ctx, "mouseMoved", x, y, 0)
}

// Type focuses the element and types text as a person would (key by key
// with slowly, else inserted at once); submit presses Enter after.
func (t *Tab) Type(ctx context.Context, tg Target, s string, slowly, submit bool) error {
	el, err := t.element(ctx, tg)
	if err != nil {
		return err
	}
	defer t.release(el)
	if _, err := t.callOn(ctx, el, `function(el) { el.scrollIntoView({block: "center"}); el.focus(); }`); err != nil {
		return err
	}
	if slowly {
		for _, r := range s {
			if err := t.PressKey(ctx, string(r)); err != nil {
				return err
			}
		}
	} else if err := t.call(ctx, "Input.insertText", map[string]any{"text": s}, nil); err != nil {
		return err
	}
	if submit {
		return t.PressKey(ctx, "Enter")
	}
	return nil
}

// Fill sets the value of an input, textarea or contenteditable element
// at once, replacing what it held, and fires input and change events.
func (t *Tab) Fill(ctx context.Context, tg Target, value string) error {
	el, err := t.element(ctx, tg)
	if err != nil {
		return err
	}
	defer t.release(el)
	_, err = t.callOn(ctx, el, `function(el, value) {
		el.scrollIntoView({block: "center"});
		el.focus();
		if (el.isContentEditable) {
			el.textContent = value;
		} else if ("value" in el) {
			const proto = Object.getPrototypeOf(el);
			const desc = Object.getOwnPropertyDescriptor(proto, "value");
			if (desc && desc.set) desc.set.call(el, value); else el.value = value;
		} else {
			throw new Error("the element is not a text field");
		}
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
	}`, value)
	return err
}

// SelectOption selects the options of a <select> whose value or label is
// in values, and returns the values selected.
func (t *Tab) SelectOption(ctx context.Context, tg Target, values []string) ([]byte, error) {
	el, err := t.element(ctx, tg)
	if err != nil {
		return nil, err
	}
	defer t.release(el)
	return t.callOn(ctx, el, `function(el, values) {
		if (el.tagName !== "SELECT") throw new Error("the element is not a <select>");
		const want = new Set(values);
		const match = (o) => want.has(o.value) || want.has(o.label) || want.has(o.textContent.trim());
		const hits = Array.from(el.options).filter(match);
		if (!el.multiple) hits.splice(1);
		// Set the wanted ones first: a single <select> re-selects its first
		// option as soon as none is selected.
		for (const o of hits) o.selected = true;
		for (const o of el.options) if (!hits.includes(o)) o.selected = false;
		const picked = hits.map((o) => o.value);
		if (picked.length === 0) throw new Error("no option has the value or label " + JSON.stringify(values));
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return picked;
	}`, values)
}

// Scroll scrolls the element into view, or the page by dx, dy pixels.
func (t *Tab) Scroll(ctx context.Context, tg Target, dx, dy int) error {
	if !tg.empty() {
		el, err := t.element(ctx, tg)
		if err != nil {
			return err
		}
		defer t.release(el)
		_, err = t.callOn(ctx, el, `function(el) { el.scrollIntoView({block: "center", behavior: "instant"}); }`)
		return err
	}
	return t.eval(ctx, fmt.Sprintf("window.scrollBy(%d, %d)", dx, dy), nil)
}

// key is how DevTools is told about a named key.
type key struct {
	code string
	vk   int
	text string
}

var namedKeys = map[string]key{
	"Enter": {"Enter", 13, "\r"}, "Tab": {"Tab", 9, ""}, "Escape": {"Escape", 27, ""},
	"Backspace": {"Backspace", 8, ""}, "Delete": {"Delete", 46, ""}, "Space": {"Space", 32, " "},
	"ArrowLeft": {"ArrowLeft", 37, ""}, "ArrowUp": {"ArrowUp", 38, ""}, "ArrowRight": {"ArrowRight", 39, ""},
	"ArrowDown": {"ArrowDown", 40, ""}, "Home": {"Home", 36, ""}, "End": {"End", 35, ""},
	"PageUp": {"PageUp", 33, ""}, "PageDown": {"PageDown", 34, ""},
}

// PressKey presses one key: a name such as Enter or ArrowDown, or one
// character.
func (t *Tab) PressKey(ctx context.Context, name string) error {
	k, ok := namedKeys[name]
	if !ok {
		r := []rune(name)
		if len(r) != 1 {
			return &inputError{fmt.Sprintf("key %q: give one character or a key name (Enter, Tab, Escape, Backspace, Delete, Space, ArrowLeft/Up/Right/Down, Home, End, PageUp, PageDown)", name)}
		}
		k = key{text: name}
		if name == " " {
			name = "Space"
		}
	}
	down := map[string]any{"type": "keyDown", "key": name, "code": k.code, "windowsVirtualKeyCode": k.vk, "nativeVirtualKeyCode": k.vk}
	if k.text != "" {
		down["text"] = k.text
		down["unmodifiedText"] = k.text
	}
	if err := t.call(ctx, "Input.dispatchKeyEvent", down, nil); err != nil {
		return err
	}
	return t.call(ctx, "Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": name, "code": k.code, "windowsVirtualKeyCode": k.vk, "nativeVirtualKeyCode": k.vk}, nil)
}
