package rest

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/sandbox"
)

// Stats is the part of the engine the stats route serves.
// *sandbox.Manager implements it; an engine without it answers 501 there.
type Stats interface {
	Stats(ctx context.Context, idOrName string) (*sandbox.UsageStats, error)
}

var _ Stats = (*sandbox.Manager)(nil)

var errNoStats = errors.New("this engine does not measure sandboxes")

type statsOutput struct {
	Body *sandbox.UsageStats
}

// statsRoutes serves a running sandbox's measured usage (its VMM's CPU
// time and memory): what the Kubernetes provider's /stats/summary reports.
func (s *server) statsRoutes() {
	huma.Register(s.api, op(http.MethodGet, "/v1/sandboxes/{id}/stats", "get-sandbox-stats", "sandboxes", "Measure a sandbox's usage",
		"The CPU time and memory (PSS and RSS) of the running sandbox's VMM process on the host, read now.",
		http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusNotImplemented),
		func(ctx context.Context, in *idInput) (*statsOutput, error) {
			st, ok := s.eng.(Stats)
			if !ok {
				return nil, huma.NewError(http.StatusNotImplemented, errNoStats.Error())
			}
			out, err := st.Stats(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, "sandbox stats", err)
			}
			return &statsOutput{Body: out}, nil
		})
}
