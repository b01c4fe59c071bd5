// Package rest serves Volant's HTTP API: every engine operation as
// documented, authenticated JSON routes (Huma v2 on net/http's ServeMux),
// plus the streaming routes Huma cannot express — raw file bytes, tar
// archives, WebSocket exec and console sessions, Server-Sent Events and the
// port proxy — registered on the same mux and described in the same OpenAPI
// document.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/sandbox"
)

// Engine is the part of the sandbox engine the API serves, by area;
// *sandbox.Manager implements it.
type Engine interface {
	Sandboxes
	Guests
	Snapshots
	Actions
	System(ctx context.Context) (*sandbox.SystemInfo, error)
}

// Sandboxes is the sandboxes' lifecycle.
type Sandboxes interface {
	Create(ctx context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error)
	Get(ctx context.Context, idOrName string) (*sandbox.Sandbox, error)
	List(ctx context.Context, opts sandbox.ListOptions) (*sandbox.ListPage, error)
	Start(ctx context.Context, id string) (*sandbox.Sandbox, error)
	Stop(ctx context.Context, id string) (*sandbox.Sandbox, error)
	Pause(ctx context.Context, id string) (*sandbox.Sandbox, error)
	Resume(ctx context.Context, id string) (*sandbox.Sandbox, error)
	Hibernate(ctx context.Context, id string) (*sandbox.Sandbox, error)
	Delete(ctx context.Context, id string) error
}

// Guests is what runs inside a sandbox: commands, and the files,
// processes, terminals and ports of sandbox.Guest; and its console.
type Guests interface {
	Exec(ctx context.Context, id string, req sandbox.ExecRequest, out sandbox.OutputFunc) (*sandbox.ExecResult, error)
	Guest(ctx context.Context, id string) (*sandbox.Guest, error)
	ConsoleLog(ctx context.Context, id string, tail int) ([]byte, string, error)
}

// Snapshots are snapshots and forks.
type Snapshots interface {
	Snapshot(ctx context.Context, id string) (*sandbox.Snapshot, error)
	Fork(ctx context.Context, id string, req sandbox.ForkRequest) ([]*sandbox.Sandbox, error)
	ListSnapshots(ctx context.Context) ([]*sandbox.Snapshot, error)
	GetSnapshot(ctx context.Context, id string) (*sandbox.Snapshot, error)
	DeleteSnapshot(ctx context.Context, id string) error
}

// Actions calls a runtime plugin's action in a sandbox.
type Actions interface {
	Action(ctx context.Context, idOrName, plugin, action string, input json.RawMessage, opts ...sandbox.ActionOptions) (*sandbox.ActionAnswer, error)
}

var _ Engine = (*sandbox.Manager)(nil)

// DefaultMaxUploadBytes bounds file and tar uploads unless Options say
// otherwise.
const DefaultMaxUploadBytes = 1 << 30

// Options configure the API.
type Options struct {
	// Manager is the engine; required.
	Manager Engine
	// Auth checks bearer tokens on every route but the open ones
	// (/healthz, /openapi.json, /openapi.yaml, /docs); required.
	Auth *auth.Auth
	// Events feeds GET /v1/events; nil answers 503 there.
	Events EventSource
	// Plugins serves /v1/plugins; nil answers 503 there and on the
	// action route.
	Plugins Plugins
	// Images serves /v1/images; nil answers 503 there.
	Images Images
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger
	// Version is reported by /healthz and in the OpenAPI document.
	Version string
	// MaxUploadBytes bounds file and tar uploads; 0 means
	// DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// PortKey signs per-port guest URLs (auth.LoadPortKey); empty means a
	// random key, so URLs die with the process.
	PortKey []byte
	// GuestPort is the listener's port, for the guest origins of signed
	// port URLs (http://<port>-<id>.localhost:<GuestPort>/); empty takes
	// the port of the request's Host.
	GuestPort string
}

// server holds what the handlers share.
type server struct {
	eng       Engine
	auth      *auth.Auth
	events    EventSource
	plugins   Plugins
	images    Images
	log       *slog.Logger
	version   string
	maxUpload int64
	ports     *auth.PortSigner
	guestPort string

	mux     *http.ServeMux
	api     huma.API
	metrics *metrics
}

// openPaths are served without a token.
var openPaths = map[string]bool{
	"/healthz":      true,
	"/openapi.json": true,
	"/openapi.yaml": true,
	"/docs":         true,
}

// New returns the API handler. It panics if Manager or Auth is nil: an
// unauthenticated API is never what a caller wants. The handler applies
// Auth itself, so the daemon need not wrap it again (doing so is harmless).
func New(opts Options) http.Handler {
	if opts.Manager == nil || opts.Auth == nil {
		panic("rest.New: Options.Manager and Options.Auth are required")
	}
	s := &server{
		eng:       opts.Manager,
		auth:      opts.Auth,
		events:    opts.Events,
		plugins:   opts.Plugins,
		images:    opts.Images,
		log:       opts.Logger,
		version:   opts.Version,
		maxUpload: opts.MaxUploadBytes,
		ports:     auth.NewPortSigner(opts.PortKey),
		guestPort: opts.GuestPort,
		mux:       http.NewServeMux(),
		metrics:   newMetrics(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.version == "" {
		s.version = "dev"
	}
	if s.maxUpload <= 0 {
		s.maxUpload = DefaultMaxUploadBytes
	}
	s.api = humago.New(s.mux, s.config())
	s.api.UseMiddleware(formBodies(s.api))
	s.routes()
	omitPatternDescriptions(s.api.OpenAPI())

	authed := s.auth.Authorize(s.mux)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if port, id, ok := guestHost(r.Host); ok {
			s.serveGuestOrigin(w, r, port, id)
			return
		}
		apiHeaders(w, r)
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, r))
		if openPaths[r.URL.Path] {
			s.mux.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	})
	return s.metrics.wrap(s.mux, s.muxErrors(h))
}

func (s *server) config() huma.Config {
	cfg := huma.DefaultConfig("Volant API", s.version)
	cfg.Formats = map[string]huma.Format{"application/json": strictJSON, "json": strictJSON}
	// No $schema fields or Link headers in answers, no /schemas route:
	// answers are exactly the documented objects.
	cfg.CreateHooks = nil
	cfg.SchemasPath = ""
	// Huma's docs page loads its renderer from a CDN; /docs is served by
	// docs.go instead and works offline.
	cfg.DocsPath = ""
	cfg.Info.Description = apiDescription
	cfg.Info.License = &huma.License{Name: "Apache-2.0", Identifier: "Apache-2.0"}
	cfg.Servers = []*huma.Server{{URL: "http://127.0.0.1:7777", Description: "volantd's default listener"}}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {
			Type:        "http",
			Scheme:      "bearer",
			Description: "A Volant API token (vol_...). The admin token is in STATE_DIR/token; `volar token create` issues more. WebSocket and EventSource clients may pass it as ?access_token=.",
		},
	}
	cfg.Tags = []*huma.Tag{
		{Name: "system", Description: "Health, host information and metrics."},
		{Name: "sandboxes", Description: "Create, inspect and control sandboxes."},
		{Name: "exec", Description: "Run commands in a sandbox."},
		{Name: "files", Description: "Read and write files in a sandbox."},
		{Name: "console", Description: "The serial console of a sandbox."},
		{Name: "ports", Description: "Reach ports inside a sandbox."},
		{Name: "snapshots", Description: "Saved sandboxes."},
		{Name: "secrets", Description: "Secrets sandboxes use without holding them (write-only values)."},
		{Name: "tokens", Description: "API tokens."},
		{Name: "events", Description: "The engine's event log."},
		{Name: "plugins", Description: "Runtime plugins: what runs in a sandbox, and the actions to call on it."},
		{Name: "images", Description: "OCI images: the root filesystems sandboxes run."},
	}
	return cfg
}

const securityScheme = "bearer"

// noToken is the security of open operations: one empty requirement.
var noToken = []map[string][]string{{}}

const apiDescription = `Volant runs hardware-isolated Linux sandboxes (microVMs).

Every route but /healthz, /openapi.json, /openapi.yaml and /docs needs a bearer token:
` + "`Authorization: Bearer vol_...`" + `. The admin token is written to STATE_DIR/token when
volantd first starts; ` + "`volar token create <name>`" + ` issues more. Clients that cannot set headers
(browser WebSocket, EventSource) pass ` + "`?access_token=`" + `.

Errors are RFC 9457 problem documents (application/problem+json) whose detail says what to do.`

// op returns an authenticated operation with the common error responses.
func op(method, path, id, tag, summary, desc string, errs ...int) huma.Operation {
	return huma.Operation{
		Method:      method,
		Path:        path,
		OperationID: id,
		Tags:        []string{tag},
		Summary:     summary,
		Description: desc,
		Security:    []map[string][]string{{securityScheme: {}}},
		Errors:      append([]int{http.StatusUnauthorized, http.StatusInternalServerError}, errs...),
	}
}

// engineChecked marks an operation whose parameters and body are engine
// requests: the engine's Validate is their only check, so a request gets
// the same answer here as on every other surface. The schema tags still
// document them; unknown body fields are still refused (strictJSON).
func engineChecked(o huma.Operation) huma.Operation {
	o.SkipValidateParams = true
	o.SkipValidateBody = true
	return o
}

// strictJSON decodes request bodies refusing unknown fields, as the schema
// does where it is checked.
var strictJSON = huma.Format{
	Marshal: huma.DefaultJSONFormat.Marshal,
	Unmarshal: func(data []byte, v any) error {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		return dec.Decode(v)
	},
}

func (s *server) routes() {
	s.systemRoutes()
	s.sandboxRoutes()
	s.execRoutes()
	s.fileRoutes()
	s.consoleRoutes()
	s.portRoutes()
	s.portURLRoutes()
	s.snapshotRoutes()
	s.egressRoutes()
	s.pluginRoutes()
	s.imageRoutes()
	s.tokenRoutes()
	s.eventRoutes()
	s.workloadRoutes()
	s.docsRoutes()
}
