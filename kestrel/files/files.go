// Package files serves the agent's file routes: read with ranges, atomic
// write, list, stat, mkdir, remove, and tar upload/download.
//
// Every route names its file with ?path=, an absolute guest path. The agent
// runs as root, so the routes can reach the whole guest file system; they
// guard only against mistakes (relative paths, deleting "/") and, for tar
// uploads, against archives that would write outside their directory.
package files

import "net/http"

// Register adds the file routes to mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/files", handleRead)
	mux.HandleFunc("PUT /v1/files", handleWrite)
	mux.HandleFunc("DELETE /v1/files", handleRemove)
	mux.HandleFunc("GET /v1/files/stat", handleStat)
	mux.HandleFunc("GET /v1/files/list", handleList)
	mux.HandleFunc("POST /v1/files/mkdir", handleMkdir)
	mux.HandleFunc("GET /v1/files/tar", handleDownloadTar)
	mux.HandleFunc("PUT /v1/files/tar", handleUploadTar)
}
