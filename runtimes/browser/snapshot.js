// The page snapshot: an accessibility-style outline of what is visible,
// with a ref on every element an agent can act on. Refs stay on their
// elements (data-volant-ref) across snapshots, so an agent can keep using
// one as long as the element lives.
(() => {
  const maxLines = 2000, maxText = 200;
  let seq = window.__volantRefSeq || 0;
  const lines = [];
  const interactive = new Set(["link", "button", "textbox", "searchbox", "checkbox", "radio", "combobox",
    "listbox", "option", "slider", "spinbutton", "switch", "tab", "menuitem", "menuitemcheckbox", "treeitem"]);
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "HEAD", "META", "LINK"]);
  const clip = (s) => { s = (s || "").replace(/\s+/g, " ").trim(); return s.length > maxText ? s.slice(0, maxText) + "…" : s; };
  const hidden = (el) => {
    if (el.hidden || el.getAttribute("aria-hidden") === "true") return true;
    const st = getComputedStyle(el);
    return st.display === "none" || st.visibility === "hidden";
  };
  const roleOf = (el) => {
    const r = el.getAttribute("role");
    if (r) return r.split(" ")[0];
    const t = el.tagName;
    switch (t) {
      case "A": return el.hasAttribute("href") ? "link" : "";
      case "BUTTON": case "SUMMARY": return "button";
      case "TEXTAREA": return "textbox";
      case "SELECT": return el.multiple || el.size > 1 ? "listbox" : "combobox";
      case "OPTION": return "option";
      case "IMG": return "img";
      case "UL": case "OL": return "list";
      case "LI": return "listitem";
      case "TABLE": return "table";
      case "TR": return "row";
      case "TD": return "cell";
      case "TH": return "columnheader";
      case "NAV": return "navigation";
      case "MAIN": return "main";
      case "FORM": return "form";
      case "DIALOG": return "dialog";
      case "H1": case "H2": case "H3": case "H4": case "H5": case "H6": return "heading";
      case "INPUT": {
        const ty = (el.type || "text").toLowerCase();
        if (ty === "hidden") return "";
        if (["button", "submit", "reset", "image"].includes(ty)) return "button";
        if (ty === "checkbox") return "checkbox";
        if (ty === "radio") return "radio";
        if (ty === "range") return "slider";
        if (ty === "number") return "spinbutton";
        if (ty === "search") return "searchbox";
        return "textbox";
      }
    }
    if (el.isContentEditable && el.parentElement && !el.parentElement.isContentEditable) return "textbox";
    if (el.hasAttribute("onclick") || (el.tabIndex >= 0 && el.hasAttribute("tabindex"))) return "generic-clickable";
    return "";
  };
  const nameOf = (el, role) => {
    const al = el.getAttribute("aria-label");
    if (al) return clip(al);
    const lb = el.getAttribute("aria-labelledby");
    if (lb) return clip(lb.split(" ").map((id) => (document.getElementById(id) || {}).textContent || "").join(" "));
    if (el.labels && el.labels.length) return clip(Array.from(el.labels).map((l) => l.textContent).join(" "));
    if (el.tagName === "IMG") return clip(el.alt || el.title);
    if (el.tagName === "INPUT" && ["button", "submit", "reset"].includes(el.type)) return clip(el.value || el.type);
    if (["textbox", "searchbox", "combobox", "spinbutton", "slider"].includes(role)) return clip(el.placeholder || el.title || el.name);
    if (["link", "button", "heading", "option", "tab", "menuitem", "cell", "columnheader", "listitem", "generic-clickable", "checkbox", "radio"].includes(role)) return clip(el.innerText || el.textContent || el.title);
    return clip(el.title);
  };
  const leaf = new Set(["link", "button", "textbox", "searchbox", "option", "img", "heading", "checkbox", "radio", "slider", "spinbutton", "generic-clickable"]);
  const emit = (depth, s) => { if (lines.length < maxLines) lines.push("  ".repeat(depth) + "- " + s); };
  const walk = (node, depth) => {
    for (const child of node.childNodes) {
      if (lines.length >= maxLines) return;
      if (child.nodeType === Node.TEXT_NODE) {
        const s = clip(child.textContent);
        if (s) emit(depth, "text: " + JSON.stringify(s));
        continue;
      }
      if (child.nodeType !== Node.ELEMENT_NODE || skip.has(child.tagName) || hidden(child)) continue;
      const role = roleOf(child);
      if (!role || role === "generic" || role === "presentation" || role === "none") { walk(child, depth); continue; }
      let line = (role === "generic-clickable" ? "clickable" : role);
      const name = nameOf(child, role);
      if (name) line += " " + JSON.stringify(name);
      const attrs = [];
      if (role === "heading") attrs.push("level=" + (child.getAttribute("aria-level") || child.tagName.slice(1)));
      if (child.disabled) attrs.push("disabled");
      if (role === "checkbox" || role === "radio" || role === "switch") attrs.push(child.checked ? "checked" : "unchecked");
      if (role === "option" && child.selected) attrs.push("selected");
      if (interactive.has(role) || role === "generic-clickable") {
        let ref = child.getAttribute("data-volant-ref");
        if (!ref) { ref = "e" + (++seq); child.setAttribute("data-volant-ref", ref); }
        attrs.push("ref=" + ref);
      }
      if (attrs.length) line += " [" + attrs.join("] [") + "]";
      if (["textbox", "searchbox", "spinbutton", "slider"].includes(role)) {
        const v = child.isContentEditable ? child.textContent : child.value;
        if (v) line += ": " + JSON.stringify(clip(v));
      } else if (role === "combobox" && child.selectedOptions && child.selectedOptions.length) {
        line += ": " + JSON.stringify(clip(child.selectedOptions[0].textContent));
      }
      if (role === "link") line += " -> " + child.getAttribute("href");
      emit(depth, line);
      if (!leaf.has(role)) walk(child, depth + 1);
    }
  };
  if (document.body) walk(document.body, 0);
  window.__volantRefSeq = seq;
  const body = document.body ? document.body.innerText : "";
  return {
    url: location.href,
    title: document.title,
    snapshot: lines.join("\n") + (lines.length >= maxLines ? "\n- (the page has more; scroll or narrow with a selector)" : ""),
    text: body.length > 100000 ? body.slice(0, 100000) + "…" : body,
  };
})()
