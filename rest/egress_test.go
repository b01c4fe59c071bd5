package rest_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
)

// egressFake adds the egress side to the fake engine.
type egressFake struct {
	*fakeEngine
	mu      sync.Mutex
	policy  map[string]*sandbox.EgressPolicy
	secrets map[string]string
}

func (f *egressFake) SetEgress(ctx context.Context, req sandbox.SetEgressRequest) (*sandbox.EgressInfo, error) {
	if req.Policy != nil {
		if err := req.Policy.Validate(); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policy[req.Sandbox] = req.Policy
	return &sandbox.EgressInfo{Sandbox: req.Sandbox, Policy: req.Policy, Enforced: true}, nil
}

func (f *egressFake) EgressOf(ctx context.Context, id string) (*sandbox.EgressInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &sandbox.EgressInfo{Sandbox: id, Policy: f.policy[id], Stats: sandbox.EgressStats{ConnDenied: 2}}, nil
}

func (f *egressFake) EgressStats() map[string]sandbox.EgressStats {
	return map[string]sandbox.EgressStats{"sbx-1": {DNSDenied: 4, ConnAllowed: 1}}
}

func (f *egressFake) PutSecret(ctx context.Context, req sandbox.PutSecretRequest) (sandbox.SecretInfo, error) {
	if err := req.Validate(); err != nil {
		return sandbox.SecretInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[req.Name] = req.Value
	return sandbox.SecretInfo{Name: req.Name}, nil
}

func (f *egressFake) Secrets(ctx context.Context) ([]sandbox.SecretInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sandbox.SecretInfo
	for n := range f.secrets {
		out = append(out, sandbox.SecretInfo{Name: n})
	}
	return out, nil
}

func (f *egressFake) DeleteSecret(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.secrets[name]; !ok {
		return errdefs.NotFound("secret %q not found", name)
	}
	delete(f.secrets, name)
	return nil
}

func TestEgressRoutes(t *testing.T) {
	var fake *egressFake
	e := newEnv(t, func(o *rest.Options) {
		fake = &egressFake{fakeEngine: o.Manager.(*fakeEngine), policy: map[string]*sandbox.EgressPolicy{}, secrets: map[string]string{}}
		o.Manager = fake
	})
	var info sandbox.EgressInfo
	want(t, e.do("PUT", "/v1/sandboxes/sbx-1/egress", map[string]any{"default": "deny", "allow": []string{"pypi.org"}}), 200, &info)
	if info.Policy == nil || info.Policy.Default != "deny" || info.Policy.Allow[0] != "pypi.org" {
		t.Fatalf("PUT egress: %+v", info)
	}
	wantProblem(t, e.do("PUT", "/v1/sandboxes/sbx-1/egress", map[string]any{"default": "block"}), 400, "deny")
	want(t, e.do("GET", "/v1/sandboxes/sbx-1/egress", nil), 200, &info)
	if info.Stats.ConnDenied != 2 {
		t.Fatalf("GET egress: %+v", info)
	}
	var reset sandbox.EgressInfo
	want(t, e.do("DELETE", "/v1/sandboxes/sbx-1/egress", nil), 200, &reset)
	if reset.Policy != nil {
		t.Fatalf("DELETE egress: %+v", reset)
	}

	const value = "s3cr3t-value-xyz"
	want(t, e.do("POST", "/v1/secrets", map[string]string{"name": "openai", "value": value}), 201, nil)
	resp := e.do("GET", "/v1/secrets", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"openai"`) || strings.Contains(string(body), value) {
		t.Fatalf("GET /v1/secrets: %d %s", resp.StatusCode, body)
	}
	want(t, e.do("DELETE", "/v1/secrets/openai", nil), 204, nil)
	wantProblem(t, e.do("DELETE", "/v1/secrets/openai", nil), 404)

	resp = e.do("GET", "/metrics", nil)
	body, _ = io.ReadAll(resp.Body)
	for _, line := range []string{
		`volant_egress_dns_queries_total{sandbox="sbx-1",verdict="denied"} 4`,
		`volant_egress_connections_total{sandbox="sbx-1",verdict="allowed"} 1`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}
