// Package ports serves the agent's port tunnel: a host connection is joined
// to a TCP port inside the guest, without guest networking on the host side.
package ports

import "net/http"

// Register adds the port routes to mux.
func Register(mux *http.ServeMux) {}
