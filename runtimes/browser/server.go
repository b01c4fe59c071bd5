package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxBody bounds a request body.
const maxBody = 4 << 20

// Service serves the browser's actions over HTTP.
type Service struct {
	browser *Browser
	log     *slog.Logger
	doc     []byte
	// mu runs one action at a time: actions of one agent on one page
	// make sense only in order.
	mu sync.Mutex
}

// NewService serves b.
func NewService(b *Browser, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	doc, err := OpenAPI()
	if err != nil {
		return nil, err
	}
	return &Service{browser: b, log: log, doc: doc}, nil
}

// Handler returns the HTTP routes: POST /<action>, GET /healthz and
// GET /openapi.json.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	// Healthy means Chromium answers over DevTools, so a sandbox (and
	// its template) counts as ready only with a working browser.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := s.browser.Ping(ctx); err != nil {
			problem(w, http.StatusServiceUnavailable, "the browser does not answer: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "tabs": len(s.browser.Tabs())})
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.doc)
	})
	for _, a := range actions {
		mux.HandleFunc("POST /"+a.name, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, a) })
	}
	return mux
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request, a action) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		problem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is over %d bytes", maxBody))
		return
	}
	var t Timeout
	_ = json.Unmarshal(bytes.TrimSpace(body), &t) // checked again by the action's own decoding
	secs, err := t.duration()
	if err != nil {
		problem(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(secs*float64(time.Second)))
	defer cancel()
	s.mu.Lock()
	started := time.Now()
	ans, err := a.run(ctx, s, body)
	s.mu.Unlock()
	if err != nil {
		status, msg := classify(err, secs)
		s.log.Info("action failed", "action", a.name, "status", status, "err", err, "ms", time.Since(started).Milliseconds())
		problem(w, status, msg)
		return
	}
	s.log.Debug("action", "action", a.name, "ms", time.Since(started).Milliseconds())
	if ans.bytes != nil {
		w.Header().Set("Content-Type", ans.media)
		w.Header().Set("Content-Length", fmt.Sprint(len(ans.bytes)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(ans.bytes)
		return
	}
	writeJSON(w, http.StatusOK, ans.json)
}

// classify maps an action's error to a status and the message an agent
// reads.
func classify(err error, secs float64) (int, string) {
	var ie *inputError
	var nf *notFoundError
	var je *jsError
	switch {
	case errors.As(err, &ie):
		return http.StatusBadRequest, ie.msg
	case errors.As(err, &nf):
		return http.StatusNotFound, nf.msg
	case errors.As(err, &je):
		return http.StatusUnprocessableEntity, je.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, fmt.Sprintf("the browser did not finish within %g s; retry with a larger timeout_s (pages load slowly in an emulated guest): %v", secs, err)
	case isCDPError(err):
		return http.StatusUnprocessableEntity, "the browser refused: " + err.Error()
	}
	return http.StatusBadGateway, "the browser failed: " + err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

// strictUnmarshal decodes one JSON object and refuses unknown fields, so
// a misspelt argument is an error, not ignored.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}
