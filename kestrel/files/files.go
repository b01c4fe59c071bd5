// Package files serves the agent's file routes: read with ranges, atomic
// write, list, stat, mkdir, remove, and tar upload/download.
package files

import "net/http"

// Register adds the file routes to mux.
func Register(mux *http.ServeMux) {}
