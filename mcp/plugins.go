package mcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/plugins"
)

// Plugins is what the server needs of the plugin registry;
// *plugins.Registry implements it.
type Plugins interface {
	List(ctx context.Context) ([]*plugins.Plugin, error)
	Get(ctx context.Context, name string) (*plugins.Plugin, error)
	// Subscribe calls fn after every change of the registry (install,
	// enable, disable, remove) until cancel is called, with no registry
	// lock held: fn may call List and Get.
	Subscribe(fn func()) (cancel func())
}

// Plugin resource URIs.
const (
	uriPluginPrefix       = "volant://plugins/"
	uriPluginManifestTmpl = "volant://plugins/{name}/manifest"
	uriPluginOpenAPITmpl  = "volant://plugins/{name}/openapi"
	suffixManifest        = "/manifest"
	suffixOpenAPI         = "/openapi"
)

// pluginState is what the server has made of the registry: the plugin
// tools and resources it serves.
type pluginState struct {
	// mu is held for a whole reconciliation.
	mu sync.Mutex
	// tools maps the name of each plugin tool served to its key.
	tools map[string]string
	// resources maps the URI of each plugin resource listed to the digest
	// of its plugin's manifest.
	resources map[string]string
}

// watchPlugins serves the plugins' tools and resources now, and again
// after every change the registry reports (retrying each second while
// the registry cannot be listed). It returns a function that stops it and
// waits.
func (s *Server) watchPlugins() (stop func()) {
	if s.plugins == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 1)
	// The registry calls fn, with no lock of its own held, in the request
	// that made the change: syncing there means that once an enable or
	// disable has answered, tools/list already says so. Only a failed
	// sync is left to the goroutine below.
	unsubscribe := s.plugins.Subscribe(func() {
		if s.syncPlugins(ctx) == nil {
			return
		}
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	err := s.syncPlugins(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var retry <-chan time.Time
			if err != nil {
				s.log.Warn("mcp: listing plugins; retrying", "err", err)
				retry = time.After(time.Second)
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-retry:
			}
			err = s.syncPlugins(ctx)
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return func() {
		unsubscribe()
		cancel()
		<-done
	}
}

// syncPlugins makes the server's plugin tools and resources those of the
// registry now: it adds what is missing, removes what is gone and
// replaces what changed. The SDK sends tools/list_changed and
// resources/list_changed to sessions for every such change.
func (s *Server) syncPlugins(ctx context.Context) error {
	ps, err := s.plugins.List(ctx)
	if err != nil {
		return err
	}
	st := &s.pluginState
	st.mu.Lock()
	defer st.mu.Unlock()
	s.syncPluginToolsLocked(ps)
	s.syncPluginResourcesLocked(ctx, ps)
	return nil
}

func (s *Server) syncPluginToolsLocked(ps []*plugins.Plugin) {
	st := &s.pluginState
	tools, skipped := planPluginTools(ps, s.builtin)
	for _, sk := range skipped {
		s.log.Warn("mcp: plugin action has no tool", "plugin", sk.plugin, "action", sk.action, "tool", sk.tool, "reason", sk.reason)
	}
	want := map[string]bool{}
	for _, t := range tools {
		want[t.tool.Name] = true
	}
	var gone []string
	for name := range st.tools {
		if !want[name] {
			gone = append(gone, name)
			delete(st.tools, name)
		}
	}
	if len(gone) > 0 {
		s.srv.RemoveTools(gone...)
	}
	for _, t := range tools {
		if st.tools[t.tool.Name] == t.key {
			continue
		}
		if err := s.addPluginTool(t); err != nil {
			s.log.Warn("mcp: plugin action has no tool", "plugin", t.plugin, "action", t.action, "tool", t.tool.Name, "reason", err)
			if _, ok := st.tools[t.tool.Name]; ok {
				s.srv.RemoveTools(t.tool.Name)
				delete(st.tools, t.tool.Name)
			}
			continue
		}
		st.tools[t.tool.Name] = t.key
	}
}

// addPluginTool adds (or replaces) a plugin tool. The SDK panics on input
// schemas it rejects; a plugin's schema must not take the server down.
func (s *Server) addPluginTool(t pluginTool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	s.srv.AddTool(t.tool, s.actionHandler(t.plugin, t.action))
	return nil
}

func (s *Server) syncPluginResourcesLocked(ctx context.Context, ps []*plugins.Plugin) {
	st := &s.pluginState
	want := map[string]string{}
	titles := map[string]string{}
	for _, p := range ps {
		if p == nil {
			continue
		}
		data, _ := json.Marshal(p.Manifest)
		sum := sha256.Sum256(data)
		digest := hex.EncodeToString(sum[:])
		want[pluginURI(p.Name, suffixManifest)] = digest
		titles[pluginURI(p.Name, suffixManifest)] = "Plugin " + p.Name + " manifest"
		if len(bytes.TrimSpace(p.Manifest.OpenAPI)) > 0 {
			want[pluginURI(p.Name, suffixOpenAPI)] = digest
			titles[pluginURI(p.Name, suffixOpenAPI)] = "Plugin " + p.Name + " OpenAPI document"
		}
	}
	var gone []string
	for uri := range st.resources {
		if _, ok := want[uri]; !ok {
			gone = append(gone, uri)
			delete(st.resources, uri)
		}
	}
	if len(gone) > 0 {
		s.srv.RemoveResources(gone...)
	}
	for uri, digest := range want {
		old, known := st.resources[uri]
		st.resources[uri] = digest
		switch {
		case !known:
			read := s.readPluginManifest
			if strings.HasSuffix(uri, suffixOpenAPI) {
				read = s.readPluginOpenAPI
			}
			name := strings.TrimPrefix(uri, uriPluginPrefix)
			s.srv.AddResource(&sdk.Resource{URI: uri, Name: strings.ReplaceAll(name, "/", "-"), Title: titles[uri], MIMEType: mimeJSON}, read)
		case old != digest:
			if err := s.srv.ResourceUpdated(ctx, &sdk.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
				s.log.Debug("mcp: resource updated notification", "uri", uri, "err", err)
			}
		}
	}
}

func (s *Server) addPluginResources() {
	if s.plugins == nil {
		return
	}
	s.srv.AddResourceTemplate(&sdk.ResourceTemplate{URITemplate: uriPluginManifestTmpl, Name: "plugin-manifest", Title: "Plugin manifest",
		Description: "A runtime plugin's manifest as JSON: artifacts, workload, actions, OpenAPI document, resources.", MIMEType: mimeJSON},
		s.readPluginManifest)
	s.srv.AddResourceTemplate(&sdk.ResourceTemplate{URITemplate: uriPluginOpenAPITmpl, Name: "plugin-openapi", Title: "Plugin OpenAPI document",
		Description: "The OpenAPI document of a runtime plugin's workload, for plugins that have one.", MIMEType: mimeJSON},
		s.readPluginOpenAPI)
}

func pluginURI(name, suffix string) string { return uriPluginPrefix + name + suffix }

// pluginName returns the name in volant://plugins/{name}{suffix}.
func pluginName(uri, suffix string) string {
	rest, ok := strings.CutPrefix(uri, uriPluginPrefix)
	if !ok {
		return ""
	}
	name, ok := strings.CutSuffix(rest, suffix)
	if !ok || name == "" || strings.Contains(name, "/") {
		return ""
	}
	return name
}

func (s *Server) readPlugin(ctx context.Context, uri, suffix string) (*plugins.Plugin, error) {
	name := pluginName(uri, suffix)
	if name == "" || s.plugins == nil {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	p, err := s.plugins.Get(ctx, name)
	if err != nil {
		return nil, resourceError(uri, err)
	}
	return p, nil
}

func (s *Server) readPluginManifest(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	p, err := s.readPlugin(ctx, uri, suffixManifest)
	if err != nil {
		return nil, err
	}
	return jsonResource(uri, p.Manifest)
}

func (s *Server) readPluginOpenAPI(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	uri := req.Params.URI
	p, err := s.readPlugin(ctx, uri, suffixOpenAPI)
	if err != nil {
		return nil, err
	}
	doc := bytes.TrimSpace(p.Manifest.OpenAPI)
	if len(doc) == 0 {
		return nil, sdk.ResourceNotFoundError(uri)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err == nil {
		doc = b.Bytes()
	}
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: mimeJSON, Text: text(doc)}}}, nil
}
