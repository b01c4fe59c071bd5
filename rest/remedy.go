package rest

import (
	"net/url"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// routes renders each engine operation a remedy may name as the REST
// route that runs it; {name} is replaced by the remedy's argument of that
// name, and arguments the route has no place for become query parameters.
var remedyRoutes = map[errdefs.Op]string{
	errdefs.OpSandboxCreate:   "POST /v1/sandboxes",
	errdefs.OpSandboxGet:      "GET /v1/sandboxes/{id}",
	errdefs.OpSandboxList:     "GET /v1/sandboxes",
	errdefs.OpSandboxStart:    "POST /v1/sandboxes/{id}/start",
	errdefs.OpSandboxStop:     "POST /v1/sandboxes/{id}/stop",
	errdefs.OpSandboxPause:    "POST /v1/sandboxes/{id}/pause",
	errdefs.OpSandboxResume:   "POST /v1/sandboxes/{id}/resume",
	errdefs.OpSandboxDelete:   "DELETE /v1/sandboxes/{id}",
	errdefs.OpSandboxSnapshot: "POST /v1/sandboxes/{id}/snapshot",
	errdefs.OpSandboxFork:     "POST /v1/sandboxes/{id}/fork",
	errdefs.OpSnapshotList:    "GET /v1/snapshots",
	errdefs.OpSnapshotGet:     "GET /v1/snapshots/{id}",
	errdefs.OpSnapshotDelete:  "DELETE /v1/snapshots/{id}",
	errdefs.OpPluginList:      "GET /v1/plugins",
	errdefs.OpPluginGet:       "GET /v1/plugins/{name}",
	errdefs.OpPluginInstall:   "POST /v1/plugins",
	errdefs.OpPluginEnable:    "POST /v1/plugins/{name}/enable",
	errdefs.OpPluginDisable:   "POST /v1/plugins/{name}/disable",
	errdefs.OpPluginRemove:    "DELETE /v1/plugins/{name}",
	// REST has no process routes: a process is a streamed exec.
	errdefs.OpProcessList: "GET /v1/sandboxes/{id}/exec/stream",
	errdefs.OpFileList:    "GET /v1/sandboxes/{id}/files/list",
}

// renderRemedy writes one remedy as a route, e.g.
// "POST /v1/sandboxes/sbx-1/resume" or "GET /v1/sandboxes?runtime=echo".
func renderRemedy(r errdefs.Remedy) string {
	route, ok := remedyRoutes[r.Op]
	if !ok {
		return string(r.Op)
	}
	q := url.Values{}
	for _, name := range r.ArgNames() {
		hole := "{" + name + "}"
		if strings.Contains(route, hole) {
			route = strings.ReplaceAll(route, hole, url.PathEscape(r.Arg(name)))
		} else {
			q.Set(name, r.Arg(name))
		}
	}
	if len(q) > 0 {
		route += "?" + q.Encode()
	}
	return route
}

// withRemedies is msg followed by err's remedies as routes, in
// parentheses: "sandbox sbx-1 is paused; resume it first (POST
// /v1/sandboxes/sbx-1/resume)".
func withRemedies(msg string, rs []errdefs.Remedy) string {
	if len(rs) == 0 {
		return msg
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = renderRemedy(r)
	}
	return msg + " (" + strings.Join(parts, "; ") + ")"
}
