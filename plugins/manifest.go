// Package plugins is the registry of runtime plugins: what runs in a
// sandbox, declared by a manifest. A plugin names the files it puts into
// the guest (artifacts, verified by sha256), the workload kestrel
// supervises there, and the typed actions callers invoke on that
// workload, listed in the manifest or taken from an OpenAPI document.
// The engine treats every plugin the same way.
package plugins

import (
	"encoding/json"
)

// SchemaVersion is the manifest format this code reads.
const SchemaVersion = 1

// Manifest declares a runtime plugin. It is what a plugin install takes
// and what the store keeps.
type Manifest struct {
	// SchemaVersion is the manifest format; 1.
	SchemaVersion int `json:"schema_version"`
	// Name is the plugin's and its runtime's name: 2 to 32 of a-z, 0-9
	// and '-', starting with a letter; "default" is taken.
	Name string `json:"name"`
	// Version is the plugin's own version (free text, up to 64 chars).
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// RootFS, when set, is the root filesystem the plugin's files and
	// workload live in (an OCI image, a built-in image or an ext4 or tar
	// file); without it they go into the default guest's busybox root.
	RootFS *RootFS `json:"rootfs,omitempty"`
	// Artifacts are the files put into the guest before the workload
	// starts (into the root filesystem, when the plugin names one).
	Artifacts []Artifact `json:"artifacts,omitempty"`
	// PublicKey is a PEM public key (ECDSA, RSA or Ed25519). When set,
	// every artifact and the rootfs must carry a cosign-style signature
	// by it, or the install is refused. An operator's trusted plugin keys
	// take its place when the daemon has any.
	PublicKey string `json:"public_key,omitempty"`
	// Workload is the long-running process kestrel supervises in every
	// sandbox of this runtime; actions are HTTP requests to its port.
	Workload *Workload `json:"workload,omitempty"`
	// Actions are the typed operations of the workload.
	Actions []Action `json:"actions,omitempty"`
	// OpenAPI is an OpenAPI 3.x document (JSON) of the workload's HTTP
	// API; every operation with an operationId becomes an action too.
	OpenAPI json.RawMessage `json:"openapi,omitempty"`
	// Resources sizes sandboxes of this runtime by default.
	Resources *Resources `json:"resources,omitempty"`
}

// Artifact is one file put into the guest.
type Artifact struct {
	// Path is where the file goes in the guest: absolute, cleaned, not
	// under /proc, /sys or /dev.
	Path string `json:"path"`
	// Source is the file on the daemon's host (absolute path) to copy;
	// Content is the file's bytes instead (small files; base64 in JSON).
	// Exactly one of them.
	Source  string `json:"source,omitempty"`
	Content []byte `json:"content,omitempty"`
	// SHA256 is the hex digest of the file; required with Source,
	// checked when given with Content.
	SHA256 string `json:"sha256,omitempty"`
	// Mode is the file's permission bits as an octal string ("0755");
	// default "0644".
	Mode string `json:"mode,omitempty"`
	// Signature is the base64 signature of the file's bytes, as
	// cosign sign-blob --key prints it; required when a key is (see
	// Manifest.PublicKey), checked when given.
	Signature string `json:"signature,omitempty"`
}

// Workload is the process kestrel supervises in the guest.
type Workload struct {
	// Command is argv; Command[0] is an absolute path or found in PATH.
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	Cwd     string            `json:"cwd,omitempty"`
	// Port is the guest TCP port of its HTTP API (1-65535); required when
	// the plugin has actions.
	Port int `json:"port,omitempty"`
	// Health is an HTTP path answered 2xx once the workload is ready;
	// without it, ready means the port accepts connections (or, without
	// a port, that the process started).
	Health string `json:"health,omitempty"`
	// Restart is "always" (default), "on-failure" or "never".
	Restart string `json:"restart,omitempty"`
	// ReadyTimeoutS bounds the wait for readiness at sandbox start;
	// default 30, at most 600.
	ReadyTimeoutS int `json:"ready_timeout_s,omitempty"`
}

// Where an action came from (Action.Source).
const (
	SourceManifest = "manifest"
	SourceOpenAPI  = "openapi"
)

// Action is a typed operation: an HTTP request to the workload.
type Action struct {
	// Name: 1 to 48 of a-z, 0-9 and '_', starting with a letter; unique
	// in the plugin.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Method is GET, POST, PUT, PATCH or DELETE; default POST.
	Method string `json:"method,omitempty"`
	// Path starts with '/'; "{param}" segments are filled from the input
	// property of that name.
	Path string `json:"path"`
	// Input and Output are JSON Schemas (draft 2020-12) of the action's
	// input object and its answer. Input defaults to any object.
	Input  json.RawMessage `json:"input_schema,omitempty"`
	Output json.RawMessage `json:"output_schema,omitempty"`
	// OutputContentTypes are the media types the action may answer
	// (taken from an OpenAPI operation's success response). Default
	// application/json. A binary type (image/png, application/pdf, ...)
	// is handed on as bytes of that type (REST: the body; MCP: image
	// content or an embedded resource); application/x-ndjson or
	// text/event-stream says the workload can stream progress lines
	// before its result (see docs/plugins.md for the line format).
	OutputContentTypes []string `json:"output_content_types,omitempty"`
	// Query names input properties sent as query parameters rather than
	// in the JSON body (set for OpenAPI query parameters).
	Query []string `json:"query,omitempty"`
	// Body, when set, names the input property whose value is the whole
	// JSON request body (set for an OpenAPI request body that is not an
	// object). Without it, the input properties that fill neither the
	// path nor the query form the JSON body object.
	Body string `json:"body,omitempty"`
	// Source says where the action came from: "manifest" or "openapi".
	Source string `json:"source,omitempty"`
}

// Resources are a runtime's default sandbox size.
type Resources struct {
	VCPUs     int `json:"vcpus,omitempty"`
	MemoryMiB int `json:"memory_mib,omitempty"`
}
