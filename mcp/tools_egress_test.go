package mcp

import (
	"context"
	"strings"
	"testing"

	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxfake"
)

// egressFake adds the egress side to the fake engine.
type egressFake struct {
	*sandboxfake.Engine
	got []sandbox.SetEgressRequest
}

func (f *egressFake) SetEgress(ctx context.Context, req sandbox.SetEgressRequest) (*sandbox.EgressInfo, error) {
	if req.Policy != nil {
		if err := req.Policy.Validate(); err != nil {
			return nil, err
		}
	}
	f.got = append(f.got, req)
	return &sandbox.EgressInfo{Sandbox: req.Sandbox, Policy: req.Policy, Enforced: true}, nil
}

func (f *egressFake) EgressOf(ctx context.Context, id string) (*sandbox.EgressInfo, error) {
	return &sandbox.EgressInfo{Sandbox: id, Stats: sandbox.EgressStats{DNSDenied: 5}}, nil
}

func TestEgressTools(t *testing.T) {
	f := &egressFake{Engine: newFakeEngine(t)}
	_, cs := connect(t, f, nil, nil)
	info := ok[sandbox.EgressInfo](t, cs, "sandbox_set_egress", map[string]any{
		"sandbox_id": "sbx-1", "egress": map[string]any{"default": "deny", "allow": []string{"pypi.org"}},
	})
	if info.Policy == nil || info.Policy.Default != "deny" || len(f.got) != 1 || f.got[0].Sandbox != "sbx-1" {
		t.Fatalf("set: %+v, engine got %+v", info, f.got)
	}
	ok[sandbox.EgressInfo](t, cs, "sandbox_set_egress", map[string]any{"sandbox_id": "sbx-1"})
	if f.got[1].Policy != nil {
		t.Fatalf("reset sent %+v, want no policy", f.got[1])
	}
	res := call(t, cs, "sandbox_set_egress", map[string]any{"sandbox_id": "sbx-1", "egress": map[string]any{"default": "nope"}})
	if !res.IsError || !strings.Contains(resultText(res), "deny") {
		t.Fatalf("bad policy: %v %s", res.IsError, resultText(res))
	}
	got := ok[sandbox.EgressInfo](t, cs, "sandbox_get_egress", map[string]any{"sandbox_id": "sbx-1"})
	if got.Stats.DNSDenied != 5 {
		t.Fatalf("get: %+v", got)
	}
}
