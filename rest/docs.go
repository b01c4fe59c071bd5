package rest

import (
	_ "embed"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// docsPage renders /openapi.json in the browser with no external script,
// so the docs work on hosts without internet access. Huma's own page loads
// its renderer from a CDN.
//
//go:embed docs.html
var docsPage []byte

func (s *server) docsRoutes() {
	s.mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		w.Write(docsPage)
	})
	o := huma.Operation{
		Method: http.MethodGet, Path: "/docs", OperationID: "docs", Tags: []string{"system"},
		Summary:     "Interactive API documentation",
		Description: "An HTML page rendering this document; it needs no token and no internet access.",
		Errors:      []int{http.StatusInternalServerError},
		Security:    noToken,
	}
	s.document(o, nil, textResponse("The documentation page.", "text/html"))
}
