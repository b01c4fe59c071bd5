package rest_test

func init() {
	routes = append(routes,
		"PUT /v1/sandboxes/{id}/workloads/{name}", "GET /v1/sandboxes/{id}/workloads/{name}",
		"DELETE /v1/sandboxes/{id}/workloads/{name}", "GET /v1/sandboxes/{id}/workloads",
		"GET /v1/sandboxes/{id}/workloads/{name}/logs", "GET /v1/sandboxes/{id}/tcp/{port}",
		"GET /v1/sandboxes/{id}/stats")
}
