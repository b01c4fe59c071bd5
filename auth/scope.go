package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// Scope is what a token may do. Scopes are ordered: admin may do all that
// operator may, and operator all that read may.
type Scope string

// The scopes.
const (
	// ScopeRead reads: GETs of sandboxes, snapshots, files, logs, events
	// and plugins. No exec, no file writes, no PTY, console or ports.
	ScopeRead Scope = "read"
	// ScopeOperator works with sandboxes: create and control them,
	// snapshots and forks, exec, processes, files, console, ports, and
	// plugins' use (listing them and calling their actions).
	ScopeOperator Scope = "operator"
	// ScopeAdmin also manages tokens and installs, enables, disables and
	// removes plugins.
	ScopeAdmin Scope = "admin"
)

// DefaultScope is the scope of a token created without one: never admin.
const DefaultScope = ScopeOperator

// Scopes lists the scopes from least to most powerful.
var Scopes = []Scope{ScopeRead, ScopeOperator, ScopeAdmin}

func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeOperator:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Allows reports whether a token of scope s may do what needs scope need.
// An unknown scope allows nothing.
func (s Scope) Allows(need Scope) bool { return s.rank() > 0 && s.rank() >= need.rank() }

// ParseScope checks a scope name; "" is DefaultScope.
func ParseScope(name string) (Scope, error) {
	if name == "" {
		return DefaultScope, nil
	}
	s := Scope(name)
	if s.rank() == 0 {
		return "", errdefs.Invalid("scope %q: use read, operator or admin", name)
	}
	return s, nil
}

// routeScopes is the scope every REST operation needs, by "METHOD path" in
// the OpenAPI document's form. It is the one table of who may do what on
// the API; a route missing here needs admin (see RouteScope), and a test
// checks that every documented operation is here.
var routeScopes = map[string]Scope{
	// Open routes (served without a token) are listed for completeness.
	"GET /healthz":      ScopeRead,
	"GET /openapi.json": ScopeRead,
	"GET /openapi.yaml": ScopeRead,
	"GET /docs":         ScopeRead,

	"GET /v1/system": ScopeRead,
	"GET /metrics":   ScopeRead,
	"GET /v1/events": ScopeRead,

	"GET /v1/sandboxes":                   ScopeRead,
	"GET /v1/sandboxes/{id}":              ScopeRead,
	"GET /v1/sandboxes/{id}/logs":         ScopeRead,
	"GET /v1/sandboxes/{id}/files":        ScopeRead,
	"GET /v1/sandboxes/{id}/files/list":   ScopeRead,
	"GET /v1/sandboxes/{id}/files/stat":   ScopeRead,
	"GET /v1/sandboxes/{id}/files/tar":    ScopeRead,
	"POST /v1/sandboxes":                  ScopeOperator,
	"DELETE /v1/sandboxes/{id}":           ScopeOperator,
	"POST /v1/sandboxes/{id}/start":       ScopeOperator,
	"POST /v1/sandboxes/{id}/stop":        ScopeOperator,
	"POST /v1/sandboxes/{id}/pause":       ScopeOperator,
	"POST /v1/sandboxes/{id}/hibernate":   ScopeOperator,
	"POST /v1/sandboxes/{id}/resume":      ScopeOperator,
	"POST /v1/sandboxes/{id}/snapshot":    ScopeOperator,
	"POST /v1/sandboxes/{id}/fork":        ScopeOperator,
	"POST /v1/sandboxes/{id}/exec":        ScopeOperator,
	"GET /v1/sandboxes/{id}/exec/stream":  ScopeOperator, // a WebSocket session that writes stdin
	"GET /v1/sandboxes/{id}/console":      ScopeOperator, // the serial console takes input
	"PUT /v1/sandboxes/{id}/files":        ScopeOperator,
	"DELETE /v1/sandboxes/{id}/files":     ScopeOperator,
	"POST /v1/sandboxes/{id}/files/mkdir": ScopeOperator,
	"PUT /v1/sandboxes/{id}/files/tar":    ScopeOperator,
	// A guest port may do anything its server does, GET included.
	"GET /v1/sandboxes/{id}/ports/{port}/{path}":     ScopeOperator,
	"HEAD /v1/sandboxes/{id}/ports/{port}/{path}":    ScopeOperator,
	"POST /v1/sandboxes/{id}/ports/{port}/{path}":    ScopeOperator,
	"PUT /v1/sandboxes/{id}/ports/{port}/{path}":     ScopeOperator,
	"PATCH /v1/sandboxes/{id}/ports/{port}/{path}":   ScopeOperator,
	"DELETE /v1/sandboxes/{id}/ports/{port}/{path}":  ScopeOperator,
	"OPTIONS /v1/sandboxes/{id}/ports/{port}/{path}": ScopeOperator,
	"GET /v1/sandboxes/{id}/ports/{port}":            ScopeOperator,
	// A signed port URL grants what the port route does.
	"POST /v1/sandboxes/{id}/port-urls":                 ScopeOperator,
	"POST /v1/sandboxes/{id}/actions/{plugin}/{action}": ScopeOperator,

	// Workloads (supervised processes, e.g. a Pod's container) and raw
	// TCP tunnels to guest ports.
	"GET /v1/sandboxes/{id}/workloads":             ScopeRead,
	"GET /v1/sandboxes/{id}/workloads/{name}":      ScopeRead,
	"GET /v1/sandboxes/{id}/workloads/{name}/logs": ScopeRead,
	"PUT /v1/sandboxes/{id}/workloads/{name}":      ScopeOperator,
	"DELETE /v1/sandboxes/{id}/workloads/{name}":   ScopeOperator,
	"GET /v1/sandboxes/{id}/tcp/{port}":            ScopeOperator,
	// A sandbox's measured usage (the provider's /stats/summary).
	"GET /v1/sandboxes/{id}/stats": ScopeRead,

	"GET /v1/snapshots":         ScopeRead,
	"GET /v1/snapshots/{id}":    ScopeRead,
	"DELETE /v1/snapshots/{id}": ScopeOperator,

	"GET /v1/plugins":                 ScopeRead,
	"GET /v1/plugins/{name}":          ScopeRead,
	"POST /v1/plugins":                ScopeAdmin,
	"DELETE /v1/plugins/{name}":       ScopeAdmin,
	"POST /v1/plugins/{name}/enable":  ScopeAdmin,
	"POST /v1/plugins/{name}/disable": ScopeAdmin,

	"GET /v1/images":          ScopeRead,
	"GET /v1/images/{ref}":    ScopeRead,
	"POST /v1/images":         ScopeOperator,
	"DELETE /v1/images/{ref}": ScopeOperator,

	// A sandbox's egress policy is bounded by the operator's ceiling
	// whoever sets it.
	"GET /v1/sandboxes/{id}/egress":    ScopeRead,
	"PUT /v1/sandboxes/{id}/egress":    ScopeOperator,
	"DELETE /v1/sandboxes/{id}/egress": ScopeOperator,

	// Stored secrets are the operator's: only admin writes or removes
	// them; an operator may see their names to use them at create.
	"GET /v1/secrets":           ScopeOperator,
	"POST /v1/secrets":          ScopeAdmin,
	"DELETE /v1/secrets/{name}": ScopeAdmin,

	"GET /v1/tokens":         ScopeAdmin,
	"POST /v1/tokens":        ScopeAdmin,
	"DELETE /v1/tokens/{id}": ScopeAdmin,

	// The MCP transports: any token may open a streamable HTTP session
	// (each tool call is checked against toolScopes); the legacy SSE
	// transport carries no token to its calls, so it needs operator.
	"GET /mcp":    ScopeRead,
	"POST /mcp":   ScopeRead,
	"DELETE /mcp": ScopeRead,
	"GET /sse":    ScopeOperator,
	"POST /sse":   ScopeOperator,
}

// toolScopes is the scope every built-in MCP tool needs. Tools of plugin
// actions need PluginActionScope.
var toolScopes = map[string]Scope{
	"sandbox_list":  ScopeRead,
	"sandbox_get":   ScopeRead,
	"snapshot_list": ScopeRead,
	"file_read":     ScopeRead,
	"file_list":     ScopeRead,
	"plugin_list":   ScopeRead,
	"image_list":    ScopeRead,

	"sandbox_get_egress": ScopeRead,
	"sandbox_set_egress": ScopeOperator,
	"image_pull":         ScopeOperator,

	"sandbox_create":    ScopeOperator,
	"sandbox_delete":    ScopeOperator,
	"sandbox_start":     ScopeOperator,
	"sandbox_stop":      ScopeOperator,
	"sandbox_pause":     ScopeOperator,
	"sandbox_hibernate": ScopeOperator,
	"sandbox_resume":    ScopeOperator,
	"sandbox_snapshot":  ScopeOperator,
	"sandbox_fork":      ScopeOperator,
	"snapshot_delete":   ScopeOperator,
	"sandbox_exec":      ScopeOperator,
	"process_start":     ScopeOperator,
	"process_read":      ScopeOperator,
	"process_write":     ScopeOperator,
	"process_signal":    ScopeOperator,
	"process_delete":    ScopeOperator,
	"file_write":        ScopeOperator,
	"file_remove":       ScopeOperator,
}

// PluginActionScope is what calling a plugin's action needs.
const PluginActionScope = ScopeOperator

// RouteKey is the table key of a request: its method and path pattern in
// the OpenAPI form ("GET /v1/sandboxes/{id}"). pattern may be a ServeMux
// pattern, with or without a method ("GET /a/{x}", "/a/{rest...}"); HEAD
// is looked up as GET.
func RouteKey(method, pattern string) string {
	if m, p, ok := strings.Cut(pattern, " "); ok {
		method, pattern = m, p
	}
	pattern = strings.ReplaceAll(pattern, "...}", "}")
	pattern = strings.TrimSuffix(pattern, "{$}")
	return method + " " + pattern
}

// RouteScope returns the scope a route needs, and whether the table lists
// it. A route it does not list needs admin.
func RouteScope(key string) (Scope, bool) {
	if s, ok := routeScopes[key]; ok {
		return s, true
	}
	if m, p, _ := strings.Cut(key, " "); m == "HEAD" {
		if s, ok := routeScopes["GET "+p]; ok {
			return s, true
		}
	}
	return ScopeAdmin, false
}

// ToolScope returns the scope an MCP tool needs, and whether the table
// lists it. builtin says the tool is one of the server's own; any other
// tool is a plugin action. A built-in tool missing from the table needs
// admin.
func ToolScope(name string, builtin bool) (Scope, bool) {
	if !builtin {
		return PluginActionScope, true
	}
	s, ok := toolScopes[name]
	if !ok {
		return ScopeAdmin, false
	}
	return s, true
}

// Require reports whether the token of an authenticated ctx allows need: an
// error wrapping ErrForbidden saying what is missing, or
// nil. A context without a token (the stdio MCP server, run by whoever owns
// the state directory) is allowed everything.
func Require(ctx context.Context, need Scope, what string) error {
	t, ok := FromContext(ctx)
	if !ok {
		return nil
	}
	return t.require(need, what)
}

func (t *Token) require(need Scope, what string) error {
	if t.Scope.Allows(need) {
		return nil
	}
	return &forbidden{msg: fmt.Sprintf("token %s has scope %s, but %s needs %s; use a token with scope %s (an admin creates one with \"volar token create --scope %s NAME\")",
		t.ID, t.scopeName(), what, need, need, need)}
}

func (t *Token) scopeName() string {
	if t.Scope == "" {
		return "(none)"
	}
	return string(t.Scope)
}

type forbidden struct{ msg string }

func (e *forbidden) Error() string { return e.msg }
func (e *forbidden) Unwrap() error { return ErrForbidden }

// ErrForbidden is wrapped by the errors of a token whose scope does not
// allow what it asked; HTTP answers it with 403.
var ErrForbidden = errors.New("forbidden")
