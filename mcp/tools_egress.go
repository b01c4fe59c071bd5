package mcp

import (
	"context"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/sandbox"
)

// EgressEngine is the engine's egress side. sandbox.Manager implements
// it; the egress tools exist only when the engine does.
type EgressEngine interface {
	SetEgress(ctx context.Context, req sandbox.SetEgressRequest) (*sandbox.EgressInfo, error)
	EgressOf(ctx context.Context, idOrName string) (*sandbox.EgressInfo, error)
}

var _ EgressEngine = (*sandbox.Manager)(nil)

// SetEgressInput is the input of sandbox_set_egress.
type SetEgressInput struct {
	SandboxID string                `json:"sandbox_id" jsonschema:"id (or name) of the sandbox"`
	Egress    *sandbox.EgressPolicy `json:"egress,omitempty" jsonschema:"the new policy: {\"default\": \"deny\" or \"allow\", \"allow\": [names, *.suffix globs, IPv4 CIDRs], \"deny\": [...]}; omit it to go back to the operator's default"`
}

func (s *Server) addEgressTools() {
	eg, ok := s.eng.(EgressEngine)
	if !ok {
		return
	}
	addTool(s, &sdk.Tool{Name: "sandbox_set_egress", Title: "Set a sandbox's egress policy",
		Description: "Replace where a bridged sandbox may connect: domain names, *.suffix globs and IPv4 CIDRs to allow or deny, and the default for the rest. New connections and DNS queries follow it at once. The operator's ceiling still applies.",
		Annotations: idempotent},
		func(ctx context.Context, _ *sdk.CallToolRequest, in SetEgressInput) (*sdk.CallToolResult, *sandbox.EgressInfo, error) {
			info, err := eg.SetEgress(ctx, sandbox.SetEgressRequest{Sandbox: in.SandboxID, Policy: in.Egress})
			return nil, info, toolError(err)
		})
	addTool(s, &sdk.Tool{Name: "sandbox_get_egress", Title: "Get a sandbox's egress policy",
		Description: "The sandbox's egress policy, the policy in effect, the operator's ceiling and the counts of allowed and denied DNS queries and connections.",
		Annotations: readOnly},
		func(ctx context.Context, _ *sdk.CallToolRequest, in SandboxRef) (*sdk.CallToolResult, *sandbox.EgressInfo, error) {
			info, err := eg.EgressOf(ctx, in.SandboxID)
			return nil, info, toolError(err)
		})
}
