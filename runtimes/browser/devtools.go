package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
)

// The DevTools front: Chromium's DevTools HTTP and WebSocket endpoints
// served to clients outside the guest (Playwright's connectOverCDP,
// Puppeteer), which reach it through the sandbox's port proxy. Chromium
// alone does not work there, for two reasons:
//   - it refuses a request whose Host header is not an IP address or
//     localhost (against DNS rebinding), and a proxied request carries the
//     API's host name;
//   - /json/version's webSocketDebuggerUrl (and /json/list's URLs) are
//     built from the Host header, so they name an address only the guest
//     can reach.
//
// The front forwards every request to Chromium with Host set to
// Chromium's own address and without an Origin header (Chromium refuses
// WebSocket upgrades from origins it was not told to allow; the port
// proxy has already checked the caller's token), and rewrites the URLs
// of the /json answers to the address the client used: the
// X-Forwarded-Host, -Proto and -Prefix headers the port proxy sets, else
// the request's own Host.

// DevToolsHandler serves Chromium's DevTools, listening at addr
// ("127.0.0.1:9223"), to clients outside the guest.
func DevToolsHandler(addr string) http.Handler {
	target := &url.URL{Scheme: "http", Host: addr}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), baseKey{}, externalBase(pr.In)))
			pr.SetURL(target)
			pr.Out.Host = addr
			pr.Out.Header.Del("Origin")
		},
		ModifyResponse: func(resp *http.Response) error {
			b, ok := resp.Request.Context().Value(baseKey{}).(base)
			if !ok || !isJSONList(resp.Request.URL.Path) || resp.StatusCode != http.StatusOK {
				return nil
			}
			body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
			resp.Body.Close()
			if err != nil {
				return err
			}
			if out, err := rewriteDevToolsJSON(body, addr, b); err == nil {
				body = out
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		},
	}
}

// baseKey keeps, in the request sent to Chromium, the address the client
// used, for the rewrite of the answer.
type baseKey struct{}

// isJSONList says whether path is one of the DevTools /json answers that
// carry URLs: /json, /json/list, /json/version and /json/new.
func isJSONList(path string) bool {
	switch strings.TrimSuffix(path, "/") {
	case "/json", "/json/list", "/json/version", "/json/new":
		return true
	}
	return false
}

// base is the address clients reach the front at.
type base struct {
	// ws is "ws" or "wss"; host is host[:port]; prefix is the path the
	// port proxy mounts the front at ("" or "/v1/sandboxes/<id>/ports/9222").
	ws, host, prefix string
}

// externalBase is the address the client used for r, as the port proxy's
// forwarding headers tell it, else r's own Host.
func externalBase(r *http.Request) base {
	b := base{ws: "ws", host: r.Host}
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
		b.host = h
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "https" || (p == "" && r.TLS != nil) {
		b.ws = "wss"
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Prefix")); strings.HasPrefix(p, "/") && !strings.ContainsAny(p, "?#") {
		b.prefix = strings.TrimSuffix(p, "/")
	}
	return b
}

// firstValue is the first of a comma-separated header's values (the
// client's, when proxies appended theirs).
func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

// rewriteDevToolsJSON rewrites, in a /json answer (one object or a list),
// every WebSocket URL Chromium gave for its own address to the external
// base, and the DevTools frontend links' ws= parameter with it.
func rewriteDevToolsJSON(body []byte, chromium string, b base) ([]byte, error) {
	var one map[string]any
	if err := json.Unmarshal(body, &one); err == nil {
		rewriteTarget(one, chromium, b)
		return json.MarshalIndent(one, "", "   ")
	}
	var list []map[string]any
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	for _, t := range list {
		rewriteTarget(t, chromium, b)
	}
	return json.MarshalIndent(list, "", "   ")
}

func rewriteTarget(t map[string]any, chromium string, b base) {
	if s, ok := t["webSocketDebuggerUrl"].(string); ok {
		t["webSocketDebuggerUrl"] = rewriteWS(s, chromium, b)
	}
	if s, ok := t["devtoolsFrontendUrl"].(string); ok {
		// "/devtools/inspector.html?ws=127.0.0.1:9223/devtools/page/ID"
		t["devtoolsFrontendUrl"] = strings.Replace(s, "ws="+chromium+"/", "ws="+b.host+b.prefix+"/", 1)
	}
}

// rewriteWS turns ws://<chromium>/devtools/... into the external base.
func rewriteWS(s, chromium string, b base) string {
	u, err := url.Parse(s)
	if err != nil || u.Host != chromium {
		return s
	}
	return b.ws + "://" + b.host + b.prefix + u.EscapedPath()
}
