package rest

import (
	"mime"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// muxErrors answers in problem documents what the mux answers itself in
// plain text: a path with no route (404) and a method the route does not
// take (405, with its Allow header). Only requests with no route are
// wrapped, so a guest server's own 404 through the port proxy is kept.
func (s *server) muxErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, guest := guestHost(r.Host); guest {
			next.ServeHTTP(w, r) // a guest origin: the guest's answers as they are
			return
		}
		if _, pattern := s.mux.Handler(r); pattern == "" {
			w = &muxErrorWriter{ResponseWriter: w, r: r}
		}
		next.ServeHTTP(w, r)
	})
}

// muxErrorWriter turns the mux's error answer into a problem document and
// drops the mux's own text.
type muxErrorWriter struct {
	http.ResponseWriter
	r       *http.Request
	written bool
}

func (m *muxErrorWriter) WriteHeader(status int) {
	if m.written {
		return
	}
	m.written = true
	if status < 400 {
		m.ResponseWriter.WriteHeader(status)
		return
	}
	detail := "no route " + m.r.Method + " " + clipPath(m.r.URL.Path) + ": the API's routes are listed in /openapi.json"
	if status == http.StatusMethodNotAllowed {
		detail = "method " + m.r.Method + " is not allowed on " + clipPath(m.r.URL.Path) + "; it takes " +
			m.Header().Get("Allow") + " (see /openapi.json)"
	}
	m.Header().Del("X-Content-Type-Options")
	writeProblem(m.ResponseWriter, status, detail)
}

func (m *muxErrorWriter) Write(b []byte) (int, error) {
	if !m.written {
		m.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

func clipPath(p string) string {
	if len(p) > 200 {
		return p[:200] + "..."
	}
	return p
}

// formBodies refuses bodies of a media type the JSON operations do not
// document (forms, multipart, text) with 415 and what to send instead. A body with no Content-Type is taken
// as JSON. Forms are what browsers send cross-site without asking, and
// what `curl -d` sends by default, so the answer names the fix.
func formBodies(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		op := ctx.Operation()
		if op.RequestBody == nil || op.RequestBody.Content["application/json"] == nil {
			next(ctx)
			return
		}
		ct := ctx.Header("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		if ct == "" || err == nil && (op.RequestBody.Content[mt] != nil || strings.HasSuffix(mt, "+json")) {
			next(ctx)
			return
		}
		_ = huma.WriteErr(api, ctx, http.StatusUnsupportedMediaType,
			"Content-Type "+truncate(ct, 100)+": this operation takes a JSON body; send Content-Type: application/json "+
				"(with curl: -H 'Content-Type: application/json', or --json)")
	}
}
