package apiclient_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// covered maps every route of the served OpenAPI document to the client
// method that calls it. A route the server adds fails this test until the
// client has a method for it.
var covered = map[string]string{
	"GET /healthz":                                      "Health",
	"GET /v1/system":                                    "System",
	"GET /metrics":                                      "Metrics",
	"GET /docs":                                         "(an HTML page for browsers; not a client call)",
	"GET /v1/sandboxes":                                 "ListSandboxes",
	"POST /v1/sandboxes":                                "CreateSandbox",
	"GET /v1/sandboxes/{id}":                            "GetSandbox",
	"DELETE /v1/sandboxes/{id}":                         "DeleteSandbox",
	"POST /v1/sandboxes/{id}/start":                     "StartSandbox",
	"POST /v1/sandboxes/{id}/stop":                      "StopSandbox",
	"POST /v1/sandboxes/{id}/pause":                     "PauseSandbox",
	"POST /v1/sandboxes/{id}/hibernate":                 "HibernateSandbox",
	"POST /v1/sandboxes/{id}/resume":                    "ResumeSandbox",
	"POST /v1/sandboxes/{id}/snapshot":                  "SnapshotSandbox",
	"POST /v1/sandboxes/{id}/fork":                      "ForkSandbox",
	"POST /v1/sandboxes/{id}/exec":                      "Exec",
	"GET /v1/sandboxes/{id}/exec/stream":                "ExecStream",
	"GET /v1/sandboxes/{id}/files":                      "ReadFile",
	"PUT /v1/sandboxes/{id}/files":                      "WriteFile",
	"DELETE /v1/sandboxes/{id}/files":                   "RemoveFile",
	"GET /v1/sandboxes/{id}/files/list":                 "ListFiles",
	"GET /v1/sandboxes/{id}/files/stat":                 "Stat",
	"POST /v1/sandboxes/{id}/files/mkdir":               "Mkdir",
	"GET /v1/sandboxes/{id}/files/tar":                  "DownloadTar",
	"PUT /v1/sandboxes/{id}/files/tar":                  "UploadTar",
	"GET /v1/sandboxes/{id}/console":                    "Console",
	"GET /v1/sandboxes/{id}/logs":                       "Logs",
	"GET /v1/sandboxes/{id}/ports/{port}/{path}":        "PortDo, PortWebSocket",
	"POST /v1/sandboxes/{id}/port-urls":                 "SignPortURL",
	"POST /v1/sandboxes/{id}/ports/{port}/{path}":       "PortDo",
	"PUT /v1/sandboxes/{id}/ports/{port}/{path}":        "PortDo",
	"PATCH /v1/sandboxes/{id}/ports/{port}/{path}":      "PortDo",
	"DELETE /v1/sandboxes/{id}/ports/{port}/{path}":     "PortDo",
	"GET /v1/snapshots":                                 "ListSnapshots",
	"GET /v1/snapshots/{id}":                            "GetSnapshot",
	"DELETE /v1/snapshots/{id}":                         "DeleteSnapshot",
	"GET /v1/tokens":                                    "ListTokens",
	"POST /v1/tokens":                                   "CreateToken",
	"DELETE /v1/tokens/{id}":                            "RevokeToken",
	"GET /v1/events":                                    "Events",
	"GET /v1/plugins":                                   "ListPlugins",
	"POST /v1/plugins":                                  "InstallPlugin",
	"GET /v1/plugins/{name}":                            "GetPlugin",
	"DELETE /v1/plugins/{name}":                         "RemovePlugin",
	"POST /v1/plugins/{name}/enable":                    "EnablePlugin",
	"POST /v1/plugins/{name}/disable":                   "DisablePlugin",
	"GET /v1/sandboxes/{id}/egress":                     "GetEgress",
	"PUT /v1/sandboxes/{id}/egress":                     "SetEgress",
	"DELETE /v1/sandboxes/{id}/egress":                  "ResetEgress",
	"POST /v1/secrets":                                  "PutSecret",
	"GET /v1/secrets":                                   "ListSecrets",
	"DELETE /v1/secrets/{name}":                         "DeleteSecret",
	"GET /v1/images":                                    "ListImages",
	"POST /v1/images":                                   "PullImage",
	"GET /v1/images/{ref}":                              "GetImage",
	"DELETE /v1/images/{ref}":                           "DeleteImage",
	"POST /v1/sandboxes/{id}/actions/{plugin}/{action}": "Action",
}

func TestEveryRouteHasAMethod(t *testing.T) {
	api := newTestAPI(t)
	raw, err := api.c.OpenAPI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options":
			default:
				continue // parameters, summary, ...
			}
			r := strings.ToUpper(method) + " " + path
			served[r] = true
			if _, ok := covered[r]; !ok {
				t.Errorf("%s is served but the client has no method for it", r)
			}
		}
	}
	var gone []string
	for r := range covered {
		if !served[r] {
			gone = append(gone, r)
		}
	}
	sort.Strings(gone)
	for _, r := range gone {
		t.Errorf("%s is in the table but not served (any more?)", r)
	}
}
