package rest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/sandbox"
)

// EgressEngine is the engine's egress and secret side. sandbox.Manager
// implements it; an Engine without it answers 503 on these routes.
type EgressEngine interface {
	SetEgress(ctx context.Context, req sandbox.SetEgressRequest) (*sandbox.EgressInfo, error)
	EgressOf(ctx context.Context, idOrName string) (*sandbox.EgressInfo, error)
	EgressStats() map[string]sandbox.EgressStats
	PutSecret(ctx context.Context, req sandbox.PutSecretRequest) (sandbox.SecretInfo, error)
	Secrets(ctx context.Context) ([]sandbox.SecretInfo, error)
	DeleteSecret(ctx context.Context, name string) error
}

var _ EgressEngine = (*sandbox.Manager)(nil)

type egressOutput struct {
	Body *sandbox.EgressInfo
}

type setEgressInput struct {
	ID   string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Body sandbox.EgressPolicy
}

type secretNameInput struct {
	Name string `path:"name" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9_.-]*$" doc:"Secret name."`
}

type putSecretInput struct {
	Body struct {
		Name  string `json:"name" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9_.-]*$" doc:"Secret name, referred to by a sandbox's secrets as {\"name\": ...}."`
		Value string `json:"value" minLength:"1" maxLength:"65536" writeOnly:"true" doc:"The value. Write-only: never returned or logged."`
	}
}

type secretOutput struct {
	Body sandbox.SecretInfo
}

type secretsOutput struct {
	Body struct {
		Items []sandbox.SecretInfo `json:"items"`
	}
}

// egressEngine returns the engine's egress side, or a 503.
func (s *server) egressEngine() (EgressEngine, error) {
	e, ok := s.eng.(EgressEngine)
	if !ok {
		return nil, huma.Error503ServiceUnavailable("this engine has no egress support")
	}
	return e, nil
}

func (s *server) egressRoutes() {
	huma.Register(s.api, op(http.MethodGet, "/v1/sandboxes/{id}/egress", "get-sandbox-egress", "sandboxes",
		"Get a sandbox's egress policy",
		"The sandbox's own policy (absent: the operator's default), the policy in effect, the operator's ceiling, whether the host enforces it, and the counts of allowed and denied queries and connections.",
		http.StatusNotFound),
		func(ctx context.Context, in *idInput) (*egressOutput, error) {
			e, err := s.egressEngine()
			if err != nil {
				return nil, err
			}
			info, err := e.EgressOf(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, "get egress", err)
			}
			return &egressOutput{Body: info}, nil
		})

	huma.Register(s.api, op(http.MethodPut, "/v1/sandboxes/{id}/egress", "set-sandbox-egress", "sandboxes",
		"Set a sandbox's egress policy",
		"Replaces the policy. A running sandbox's new connections and DNS queries follow it at once; open connections keep going. Bridge networking only; the operator's ceiling still applies.",
		http.StatusNotFound, http.StatusBadRequest, http.StatusServiceUnavailable),
		func(ctx context.Context, in *setEgressInput) (*egressOutput, error) {
			e, err := s.egressEngine()
			if err != nil {
				return nil, err
			}
			p := in.Body
			info, err := e.SetEgress(ctx, sandbox.SetEgressRequest{Sandbox: in.ID, Policy: &p})
			if err != nil {
				return nil, s.fail(ctx, "set egress", err)
			}
			return &egressOutput{Body: info}, nil
		})

	huma.Register(s.api, op(http.MethodDelete, "/v1/sandboxes/{id}/egress", "reset-sandbox-egress", "sandboxes",
		"Reset a sandbox's egress policy",
		"Drops the sandbox's own policy: the operator's default applies again.",
		http.StatusNotFound),
		func(ctx context.Context, in *idInput) (*egressOutput, error) {
			e, err := s.egressEngine()
			if err != nil {
				return nil, err
			}
			info, err := e.SetEgress(ctx, sandbox.SetEgressRequest{Sandbox: in.ID})
			if err != nil {
				return nil, s.fail(ctx, "reset egress", err)
			}
			return &egressOutput{Body: info}, nil
		})

	put := op(http.MethodPost, "/v1/secrets", "put-secret", "secrets",
		"Store a secret",
		"Stores (or replaces) a named secret in the daemon's store (files of mode 0600). Sandboxes refer to it by name in their secrets; the value is write-only.",
		http.StatusBadRequest)
	put.DefaultStatus = http.StatusCreated
	huma.Register(s.api, put, func(ctx context.Context, in *putSecretInput) (*secretOutput, error) {
		e, err := s.egressEngine()
		if err != nil {
			return nil, err
		}
		info, err := e.PutSecret(ctx, sandbox.PutSecretRequest{Name: in.Body.Name, Value: in.Body.Value})
		if err != nil {
			return nil, s.fail(ctx, "put secret", err)
		}
		return &secretOutput{Body: info}, nil
	})

	huma.Register(s.api, op(http.MethodGet, "/v1/secrets", "list-secrets", "secrets",
		"List secrets", "The names of the stored secrets; never their values."),
		func(ctx context.Context, _ *struct{}) (*secretsOutput, error) {
			e, err := s.egressEngine()
			if err != nil {
				return nil, err
			}
			list, err := e.Secrets(ctx)
			if err != nil {
				return nil, s.fail(ctx, "list secrets", err)
			}
			out := &secretsOutput{}
			out.Body.Items = list
			return out, nil
		})

	del := op(http.MethodDelete, "/v1/secrets/{name}", "delete-secret", "secrets",
		"Delete a secret",
		"Removes a stored secret. Running sandboxes keep the value until they stop.",
		http.StatusNotFound)
	del.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, del, func(ctx context.Context, in *secretNameInput) (*struct{}, error) {
		e, err := s.egressEngine()
		if err != nil {
			return nil, err
		}
		if err := e.DeleteSecret(ctx, in.Name); err != nil {
			return nil, s.fail(ctx, "delete secret", err)
		}
		return nil, nil
	})
}

// writeEgressMetrics adds the egress counters of every sandbox the
// enforcer knows to /metrics.
func (s *server) writeEgressMetrics(w io.Writer) {
	e, ok := s.eng.(EgressEngine)
	if !ok {
		return
	}
	stats := e.EgressStats()
	if stats == nil {
		return
	}
	ids := make([]string, 0, len(stats))
	for id := range stats {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintln(w, "# HELP volant_egress_dns_queries_total DNS queries of bridged sandboxes, by sandbox and verdict.")
	fmt.Fprintln(w, "# TYPE volant_egress_dns_queries_total counter")
	for _, id := range ids {
		fmt.Fprintf(w, "volant_egress_dns_queries_total{sandbox=%q,verdict=\"allowed\"} %d\n", id, stats[id].DNSAllowed)
		fmt.Fprintf(w, "volant_egress_dns_queries_total{sandbox=%q,verdict=\"denied\"} %d\n", id, stats[id].DNSDenied)
	}
	fmt.Fprintln(w, "# HELP volant_egress_connections_total Outbound connections of bridged sandboxes, by sandbox and verdict.")
	fmt.Fprintln(w, "# TYPE volant_egress_connections_total counter")
	for _, id := range ids {
		fmt.Fprintf(w, "volant_egress_connections_total{sandbox=%q,verdict=\"allowed\"} %d\n", id, stats[id].ConnAllowed)
		fmt.Fprintf(w, "volant_egress_connections_total{sandbox=%q,verdict=\"denied\"} %d\n", id, stats[id].ConnDenied)
	}
	fmt.Fprintln(w, "# HELP volant_egress_secrets_injected_total Requests whose secret placeholders the proxy replaced, by sandbox.")
	fmt.Fprintln(w, "# TYPE volant_egress_secrets_injected_total counter")
	for _, id := range ids {
		fmt.Fprintf(w, "volant_egress_secrets_injected_total{sandbox=%q} %d\n", id, stats[id].SecretsInjected)
	}
}
