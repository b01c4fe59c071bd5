// Package mcp serves Volant's engine to AI agents over the Model Context
// Protocol: typed tools for the sandbox lifecycle, exec, processes and files,
// one tool per action of every enabled runtime plugin, and resources for
// sandboxes, their consoles and plugin manifests. It is a thin adapter over
// the sandbox and plugins packages, like rest/, and the only other place
// errdefs classes are translated (into tool errors an agent can act on).
package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/sandbox"
)

// Engine is what the server needs of the sandbox engine, by area;
// *sandbox.Manager implements it.
type Engine interface {
	Sandboxes
	Guests
	Snapshots
	Actions
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
	DeleteSnapshot(ctx context.Context, id string) error
}

// Actions calls a runtime plugin's action in a sandbox.
type Actions interface {
	Action(ctx context.Context, idOrName, plugin, action string, input json.RawMessage, opts ...sandbox.ActionOptions) (*sandbox.ActionAnswer, error)
}

var _ Engine = (*sandbox.Manager)(nil)

// Options configure a Server.
type Options struct {
	// Manager is the engine; required.
	Manager Engine
	// Events, when set, tells the server when sandboxes change, so it can
	// send resources/list_changed and resources/updated notifications.
	// Without it, resources are still readable but never announced.
	Events ChangeFeed
	// Plugins, when set, is the plugin registry: plugin_list reports its
	// plugins, every enabled plugin's actions become tools (added and
	// removed as plugins change), and manifests are resources. Nil means
	// no plugins: plugin_list answers empty, with a note.
	Plugins Plugins
	// Images, when set, serves image_list and image_pull.
	Images Images
	// Logger receives the server's logs; nil discards them. It must never
	// write to the stdout of a stdio server.
	Logger *slog.Logger
	// Version is reported to clients in the initialize result.
	Version string
}

// Validate reports what is wrong with o.
func (o Options) Validate() error {
	if o.Manager == nil {
		return errors.New("mcp: Options.Manager is required")
	}
	return nil
}

// Server is Volant's MCP server. One Server serves any number of sessions
// over any mix of transports. Close stops its background work.
type Server struct {
	eng     Engine
	plugins Plugins // nil without plugins
	images  Images  // nil without images
	log     *slog.Logger
	srv     *sdk.Server
	// builtin holds the names of the built-in tools, which plugin tools
	// never replace; written only while New adds them.
	builtin map[string]bool

	stopWatch   func()
	stopPlugins func()
	httpOnce    sync.Once
	http        http.Handler
	sseOnce     sync.Once
	sse         http.Handler

	pluginState pluginState

	mu        sync.Mutex
	closed    bool
	sandboxes map[string]bool // ids announced as resources
}

// New returns a server for opts. It panics if opts are invalid, as they
// come from the program, not from a user.
func New(opts Options) *Server {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	s := &Server{eng: opts.Manager, plugins: opts.Plugins, log: log, builtin: map[string]bool{}, sandboxes: map[string]bool{},
		pluginState: pluginState{tools: map[string]string{}, resources: map[string]string{}}}
	s.srv = sdk.NewServer(&sdk.Implementation{Name: "volant", Title: "Volant microVM sandboxes", Version: version}, &sdk.ServerOptions{
		Instructions:       instructions,
		Logger:             quiet(log),
		SubscribeHandler:   s.subscribe,
		UnsubscribeHandler: func(context.Context, *sdk.UnsubscribeRequest) error { return nil },
		HasResources:       true,
		HasTools:           true,
	})
	s.addSandboxTools()
	s.addEgressTools()
	s.addExecTools()
	s.addProcessTools()
	s.addFileTools()
	s.addPluginTools()
	s.images = opts.Images
	s.addImageTools()
	s.addResources()
	s.srv.AddReceivingMiddleware(auth.MCPMiddleware(func(name string) bool { return s.builtin[name] }))
	s.stopWatch = s.watch(opts.Events)
	s.stopPlugins = s.watchPlugins()
	return s
}

// addTool adds a built-in tool, remembering its name so that no plugin
// tool replaces it.
func addTool[In, Out any](s *Server, t *sdk.Tool, h sdk.ToolHandlerFor[In, Out]) {
	s.builtin[t.Name] = true
	sdk.AddTool(s.srv, t, h)
}

// described is In's input schema with the descriptions of some top-level
// properties replaced: a tool that binds an engine type whose documentation
// is written for another operation says what the fields mean for it.
func described[In any](docs map[string]string) *jsonschema.Schema {
	sc, err := jsonschema.For[In](nil)
	if err != nil {
		panic(fmt.Sprintf("schema of %T: %v", *new(In), err))
	}
	for name, doc := range docs {
		p, ok := sc.Properties[name]
		if !ok {
			panic(fmt.Sprintf("schema of %T has no property %q", *new(In), name))
		}
		p.Description = doc
	}
	return sc
}

const instructions = `Volant runs commands in hardware-isolated Linux microVMs ("sandboxes").
Create one with sandbox_create, then use its id as sandbox_id for sandbox_exec (argv array in cmd),
process_start/process_read for long-running commands, and file_write/file_read/file_list for files.
Delete sandboxes you no longer need with sandbox_delete. Snapshots (sandbox_snapshot) and forks
(sandbox_fork) copy a running sandbox cheaply. Runtime plugins (plugin_list) add tools named
<plugin>_<action>; create the sandbox with sandbox_create runtime=<plugin> and pass its id as sandbox_id.`

// SDK returns the underlying go-sdk server, for tests and for adding tools.
func (s *Server) SDK() *sdk.Server { return s.srv }

// Handler returns the streamable HTTP handler (mounted at /mcp). The
// caller authenticates requests before they reach it. Every call returns
// the same handler, which holds the HTTP sessions.
func (s *Server) Handler() http.Handler {
	s.httpOnce.Do(func() {
		s.http = sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.srv }, &sdk.StreamableHTTPOptions{
			Logger: quiet(s.log),
			// The daemon's bearer-token middleware guards this handler, and
			// the stdio bridge reaches it over a unix socket whose Host is
			// not a loopback name.
			DisableLocalhostProtection: true,
		})
	})
	return s.http
}

// SSEHandler returns the legacy HTTP+SSE handler (mounted at /sse); every
// call returns the same handler.
func (s *Server) SSEHandler() http.Handler {
	s.sseOnce.Do(func() {
		s.sse = sdk.NewSSEHandler(func(*http.Request) *sdk.Server { return s.srv }, &sdk.SSEOptions{DisableLocalhostProtection: true})
	})
	return s.sse
}

// ServeStdio serves one session over newline-delimited JSON-RPC on in and
// out until the client hangs up or ctx ends. Nothing else is written to out.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	t := &sdk.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}}
	err := s.srv.Run(ctx, t)
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Close stops the server's event and plugin watches. Sessions end with
// their transports. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stopWatch()
	s.stopPlugins()
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
