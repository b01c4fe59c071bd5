package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// Sandbox resource URIs; plugin resources are in plugins.go.
const (
	uriSandboxes      = "volant://sandboxes"
	uriSandboxPrefix  = "volant://sandboxes/"
	uriSandboxTmpl    = "volant://sandboxes/{id}"
	uriConsoleTmpl    = "volant://sandboxes/{id}/console"
	consoleTailBytes  = 64 << 10
	mimeJSON          = "application/json"
	mimeText          = "text/plain"
	listResourceLimit = 1000
)

// Change says that a sandbox was created, changed state or was deleted.
type Change struct {
	SandboxID string
	// Deleted is set when the sandbox is gone.
	Deleted bool
}

// ChangeFeed calls fn for every sandbox change, in order, until ctx ends or
// the feed fails. The daemon adapts its events.Log subscription to it.
type ChangeFeed func(ctx context.Context, fn func(Change)) error

func (s *Server) addResources() {
	s.srv.AddResource(&sdk.Resource{URI: uriSandboxes, Name: "sandboxes", Title: "All sandboxes",
		Description: "Every sandbox (up to 1000) as JSON: id, state, runtime, address, spec.", MIMEType: mimeJSON},
		s.readSandboxes)
	s.srv.AddResourceTemplate(&sdk.ResourceTemplate{URITemplate: uriSandboxTmpl, Name: "sandbox", Title: "One sandbox",
		Description: "One sandbox as JSON.", MIMEType: mimeJSON}, s.readSandbox)
	s.srv.AddResourceTemplate(&sdk.ResourceTemplate{URITemplate: uriConsoleTmpl, Name: "sandbox-console", Title: "Sandbox console",
		Description: "The last 64 KiB of a sandbox's serial console (kernel and agent boot messages).", MIMEType: mimeText},
		s.readConsole)
	s.addPluginResources()
}

func (s *Server) readSandboxes(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	page, err := s.eng.List(ctx, sandbox.ListOptions{Limit: listResourceLimit})
	if err != nil {
		return nil, toolError(err)
	}
	items := page.Items
	if items == nil {
		items = []*sandbox.Sandbox{}
	}
	return jsonResource(req.Params.URI, ListOutput{Sandboxes: items, Next: page.Next})
}

// sandboxID returns the id in volant://sandboxes/{id}[/suffix].
func sandboxID(uri, suffix string) string {
	id := strings.TrimPrefix(uri, uriSandboxPrefix)
	id = strings.TrimSuffix(id, suffix)
	if id == "" || strings.Contains(id, "/") {
		return ""
	}
	return id
}

func (s *Server) readSandbox(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	id := sandboxID(uri, "")
	if id == "" {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	sb, err := s.eng.Get(ctx, id)
	if err != nil {
		return nil, resourceError(uri, err)
	}
	return jsonResource(uri, sb)
}

func (s *Server) readConsole(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	id := sandboxID(uri, "/console")
	if id == "" || !strings.HasSuffix(uri, "/console") {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	data, _, err := s.eng.ConsoleLog(ctx, id, consoleTailBytes)
	if err != nil {
		return nil, resourceError(uri, err)
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: mimeText, Text: text(data)}}}, nil
}

func resourceError(uri string, err error) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return sdk.ResourceNotFoundError(uri)
	}
	return toolError(err)
}

func jsonResource(uri string, v any) (*sdk.ReadResourceResult, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: mimeJSON, Text: string(data)}}}, nil
}

// subscribe accepts subscriptions to Volant's resources; the SDK keeps
// track of who subscribed to what.
func (s *Server) subscribe(_ context.Context, req *sdk.SubscribeRequest) error {
	uri := req.Params.URI
	if uri != uriSandboxes && !strings.HasPrefix(uri, uriSandboxPrefix) && (s.plugins == nil || !strings.HasPrefix(uri, uriPluginPrefix)) {
		return errdefs.Invalid("resource %q: subscribe to volant://sandboxes, volant://sandboxes/{id} or volant://plugins/{name}/manifest", uri)
	}
	return nil
}

// watch follows feed, announcing sandboxes as resources (so clients get
// resources/list_changed as they come and go) and sending resources/updated
// to subscribers. It returns a stop function that cancels and waits.
func (s *Server) watch(feed ChangeFeed) (stop func()) {
	if feed == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.syncResources(ctx)
		for ctx.Err() == nil {
			err := feed(ctx, func(c Change) { s.apply(ctx, c) })
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("mcp: sandbox change feed ended; resubscribing", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
				s.syncResources(ctx)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// syncResources announces the sandboxes that exist now and forgets those
// that are gone.
func (s *Server) syncResources(ctx context.Context) {
	page, err := s.eng.List(ctx, sandbox.ListOptions{Limit: listResourceLimit})
	if err != nil {
		s.log.Debug("mcp: listing sandboxes for resources", "err", err)
		return
	}
	live := map[string]bool{}
	for _, sb := range page.Items {
		live[sb.ID] = true
		s.announce(sb.ID)
	}
	s.mu.Lock()
	var gone []string
	for id := range s.sandboxes {
		if !live[id] {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.forget(id)
	}
}

func (s *Server) apply(ctx context.Context, c Change) {
	if c.SandboxID == "" {
		return
	}
	if c.Deleted {
		s.forget(c.SandboxID)
	} else {
		s.announce(c.SandboxID)
	}
	for _, uri := range []string{uriSandboxes, uriSandboxPrefix + c.SandboxID} {
		if err := s.srv.ResourceUpdated(ctx, &sdk.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
			s.log.Debug("mcp: resource updated notification", "uri", uri, "err", err)
		}
	}
}

// announce adds a sandbox's resource if it is new; the SDK then sends
// resources/list_changed.
func (s *Server) announce(id string) {
	s.mu.Lock()
	known := s.sandboxes[id]
	s.sandboxes[id] = true
	s.mu.Unlock()
	if known {
		return
	}
	s.srv.AddResource(&sdk.Resource{URI: uriSandboxPrefix + id, Name: id, Title: "Sandbox " + id, MIMEType: mimeJSON}, s.readSandbox)
}

// forget removes a sandbox's resource.
func (s *Server) forget(id string) {
	s.mu.Lock()
	known := s.sandboxes[id]
	delete(s.sandboxes, id)
	s.mu.Unlock()
	if known {
		s.srv.RemoveResources(uriSandboxPrefix + id)
	}
}
