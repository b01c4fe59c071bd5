// Package python holds the workload of Volant's `python` runtime plugin: a
// stateful Python interpreter served over HTTP (kernel.py, described by
// openapi.json). The files are embedded so the plugin's builder and tests
// use the very bytes that ship.
package python

import _ "embed"

// Kernel is kernel.py, the interpreter's server.
//
//go:embed kernel.py
var Kernel []byte

// OpenAPI is the interpreter's OpenAPI document; its operations are the
// plugin's actions.
//
//go:embed openapi.json
var OpenAPI []byte
