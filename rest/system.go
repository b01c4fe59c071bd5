package rest

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/sandbox"
)

type healthOutput struct {
	Body struct {
		Status  string `json:"status" example:"ok" doc:"Always \"ok\" when the server answers."`
		Version string `json:"version" doc:"The server's version."`
	}
}

type systemOutput struct {
	Body *sandbox.SystemInfo
}

func (s *server) systemRoutes() {
	health := huma.Operation{
		Method:      http.MethodGet,
		Path:        "/healthz",
		OperationID: "health",
		Tags:        []string{"system"},
		Summary:     "Check that the server is up",
		Description: "Needs no token. Answers 200 while the server is serving.",
		Errors:      []int{http.StatusInternalServerError},
		Security:    noToken,
	}
	huma.Register(s.api, health, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		out := &healthOutput{}
		out.Body.Status = "ok"
		out.Body.Version = s.version
		return out, nil
	})

	huma.Register(s.api, op(http.MethodGet, "/v1/system", "get-system", "system",
		"Describe the engine and host",
		"The driver, accelerator (KVM or TCG, and why), guest image and the host's capacity and usage.",
		http.StatusServiceUnavailable),
		func(ctx context.Context, _ *struct{}) (*systemOutput, error) {
			info, err := s.eng.System(ctx)
			if err != nil {
				return nil, s.fail(ctx, "system", err)
			}
			return &systemOutput{Body: info}, nil
		})

	s.mux.HandleFunc("GET /metrics", s.serveMetrics)
	s.document(op(http.MethodGet, "/metrics", "get-metrics", "system",
		"Prometheus metrics",
		"Request counts and durations by route and status, sandboxes by state, and the admission figures (configured budget and usage, measured PSS, creates in flight), in the Prometheus text format (version 0.0.4)."),
		nil, textResponse("Prometheus text exposition format.", "text/plain"))
}

func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	states, err := countStates(r.Context(), s.eng)
	if err != nil {
		// Request metrics are still worth serving.
		s.log.WarnContext(r.Context(), "counting sandboxes for metrics", "err", err)
		states = nil
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, states)
	s.writeTemplateMetrics(r.Context(), w)
	if info, err := s.eng.System(r.Context()); err == nil {
		writeCapacityMetrics(w, info)
	}
	s.writeEgressMetrics(w)
}
