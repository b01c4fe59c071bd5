package plugins

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
)

// MaxManifestSize is the largest manifest ParseManifest reads, artifact
// contents (base64) and OpenAPI document included: enough for a workload
// binary of about 40 MB sent inline, as volar plugin install DIR does.
const MaxManifestSize = 64 << 20

// maxContentTypes bounds an action's output_content_types.
const maxContentTypes = 16

// MaxArtifacts is the most artifacts a manifest may list.
const MaxArtifacts = 64

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)
	actionRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
)

// Methods are the HTTP methods an action may use.
var Methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

var restarts = []string{"always", "on-failure", "never"}

// ParseManifest decodes a manifest strictly (a field this version does
// not know is an error naming it) and validates it. The error lists every
// problem found, each naming its field, and wraps errdefs.ErrInvalidArgument.
func ParseManifest(raw []byte) (*Manifest, error) {
	if len(raw) > MaxManifestSize {
		return nil, errdefs.Invalid("manifest is %d bytes, more than the %d allowed; put big files under the daemon's plugin directories or at an http(s) URL and name them in source instead of content", len(raw), MaxManifestSize)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errdefs.Invalid("manifest is not a JSON object; send one such as {\"schema_version\":1,\"name\":\"my-runtime\",\"version\":\"1.0.0\"}")
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return nil, decodeError("manifest", err)
	}
	errs := checkFields(generic, reflect.TypeFor[Manifest](), "")
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		if len(errs) == 0 {
			errs = append(errs, decodeError("manifest", err))
		}
		return nil, errors.Join(errs...)
	}
	if err := m.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks m against the rules documented on its fields. The error
// lists every problem found, each naming its field (for example
// "artifacts[2].sha256: ..."), and wraps errdefs.ErrInvalidArgument.
func (m *Manifest) Validate() error {
	var p problems
	if m.SchemaVersion != SchemaVersion {
		p.add("schema_version", "is %d; set it to %d", m.SchemaVersion, SchemaVersion)
	}
	switch {
	case m.Name == "default":
		p.add("name", `"default" is the built-in runtime's name; pick another`)
	case reservedNames[m.Name]:
		p.add("name", "%q is reserved: MCP tools named %s_… are built in; pick another name", m.Name, m.Name)
	case !nameRE.MatchString(m.Name):
		p.add("name", "%q is not a plugin name; use 2 to 32 of a-z, 0-9 and '-', starting with a letter", m.Name)
	}
	switch {
	case m.Version == "":
		p.add("version", "is empty; set the plugin's version, for example \"1.0.0\"")
	case len(m.Version) > 64:
		p.add("version", "is %d characters; use at most 64", len(m.Version))
	}
	m.validateArtifacts(&p)
	if m.RootFS != nil {
		m.RootFS.validate(&p)
	}
	if strings.TrimSpace(m.PublicKey) != "" {
		if _, err := oci.ParsePublicKey(m.PublicKey); err != nil {
			p.add("public_key", "%v; give a PEM public key (cosign generate-key-pair writes cosign.pub)", err)
		}
	}
	if m.Workload != nil {
		m.Workload.validate(&p, "workload")
	}
	n := m.validateActions(&p)
	if n > 0 && (m.Workload == nil || m.Workload.Port == 0) {
		p.add("workload.port", "is not set but the plugin has %d actions; set the port the workload's HTTP API listens on", n)
	}
	if r := m.Resources; r != nil {
		if r.VCPUs < 0 || r.VCPUs > 32 {
			p.add("resources.vcpus", "is %d; use 1 to 32, or 0 for the daemon's default", r.VCPUs)
		}
		if r.MemoryMiB != 0 && (r.MemoryMiB < 64 || r.MemoryMiB > 65536) {
			p.add("resources.memory_mib", "is %d; use 64 to 65536, or 0 for the daemon's default", r.MemoryMiB)
		}
	}
	return p.err()
}

func (m *Manifest) validateArtifacts(p *problems) {
	if len(m.Artifacts) > MaxArtifacts {
		p.add("artifacts", "lists %d files; use at most %d (pack more files into an archive the workload unpacks)", len(m.Artifacts), MaxArtifacts)
	}
	seen := make(map[string]int)
	for i, a := range m.Artifacts {
		f := fmt.Sprintf("artifacts[%d]", i)
		if err := checkGuestPath(a.Path); err != nil {
			p.add(f+".path", "%v", err)
		} else if j, dup := seen[a.Path]; dup {
			p.add(f+".path", "%s is also the path of artifacts[%d]; give each file its own path", a.Path, j)
		} else {
			seen[a.Path] = i
		}
		switch {
		case a.Source == "" && a.Content == nil:
			p.add(f, "has neither source nor content; give its bytes (base64) in content, or in source a file under the daemon's plugin directories or an http(s) URL")
		case a.Source != "" && a.Content != nil:
			p.add(f, "has both source and content; keep one of them")
		case a.Source != "":
			if err := checkSource(a.Source); err != nil {
				p.add(f+".source", "%v", err)
			}
		}
		switch {
		case a.SHA256 == "" && a.Source != "":
			p.add(f+".sha256", "is required with source; set it to the file's hex digest (sha256sum %s)", a.Source)
		case a.SHA256 != "" && !isDigest(a.SHA256):
			p.add(f+".sha256", "%q is not a sha256 digest; give the 64 lowercase hex digits sha256sum prints", a.SHA256)
		}
		if _, err := parseMode(a.Mode); err != nil {
			p.add(f+".mode", "%v", err)
		}
		if a.Signature != "" && !isBase64(a.Signature) {
			p.add(f+".signature", "is not base64; give the signature cosign sign-blob --key prints")
		}
	}
}

// checkGuestPath checks an artifact's path in the guest.
func checkGuestPath(p string) error {
	switch {
	case p == "":
		return errors.New("is empty; give the absolute path the file gets in the guest")
	case !path.IsAbs(p):
		return fmt.Errorf("%q is not absolute; give the absolute path the file gets in the guest", p)
	case path.Clean(p) != p:
		return fmt.Errorf("%q is not clean; write it as %q", p, path.Clean(p))
	case p == "/":
		return errors.New(`"/" is a directory; give a file's path`)
	}
	for _, d := range []string{"/proc", "/sys", "/dev"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return fmt.Errorf("%s is under %s, which the guest kernel owns; put the file elsewhere", p, d)
		}
	}
	return nil
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	return err == nil
}

func isDigest(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// parseMode parses an artifact's octal mode; "" is 0644.
func parseMode(s string) (uint32, error) {
	if s == "" {
		return 0o644, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("%q is not a permission mode; give octal digits up to \"0777\", such as \"0755\"", s)
	}
	return uint32(v), nil
}

func (w *Workload) validate(p *problems, f string) {
	if len(w.Command) == 0 || w.Command[0] == "" {
		p.add(f+".command", "is empty; give the workload's argv, for example [\"/usr/local/bin/server\", \"--port\", \"8080\"]")
	}
	for k := range w.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			p.add(f+".env", "has the name %q; environment names must be non-empty without '=' or NUL", k)
		}
	}
	if w.Cwd != "" && !path.IsAbs(w.Cwd) {
		p.add(f+".cwd", "%q is not absolute; give an absolute directory in the guest", w.Cwd)
	}
	if w.Port < 0 || w.Port > 65535 {
		p.add(f+".port", "is %d; use a TCP port from 1 to 65535", w.Port)
	}
	if w.Health != "" && !strings.HasPrefix(w.Health, "/") {
		p.add(f+".health", "%q does not start with '/'; give the HTTP path answered once ready, such as \"/healthz\"", w.Health)
	}
	if w.Health != "" && w.Port == 0 {
		p.add(f+".health", "needs workload.port: the health path is asked of the workload's HTTP port")
	}
	if w.Restart != "" && !slices.Contains(restarts, w.Restart) {
		p.add(f+".restart", "is %q; use one of: %s", w.Restart, strings.Join(restarts, ", "))
	}
	if w.ReadyTimeoutS < 0 || w.ReadyTimeoutS > 600 {
		p.add(f+".ready_timeout_s", "is %d; use 1 to 600 seconds, or 0 for the default of 30", w.ReadyTimeoutS)
	}
}

// validateActions checks the manifest's actions and its OpenAPI
// document, and returns how many actions the plugin has.
func (m *Manifest) validateActions(p *problems) int {
	seen := make(map[string]int)
	for i, a := range m.Actions {
		f := fmt.Sprintf("actions[%d]", i)
		if j, dup := seen[a.Name]; dup && a.Name != "" {
			p.add(f+".name", "%q is also the name of actions[%d]; give each action its own name", a.Name, j)
		} else {
			seen[a.Name] = i
		}
		if a.Source != "" && a.Source != SourceManifest {
			p.add(f+".source", "is %q; leave it empty in a manifest (it is set by the registry)", a.Source)
		}
		a.validate(p, f)
	}
	merged, err := m.mergedActions()
	if err != nil {
		p.addErr(err)
		return len(m.Actions)
	}
	for _, a := range merged {
		if a.Source == SourceOpenAPI {
			a.validate(p, fmt.Sprintf("openapi: %s %s (action %s)", a.Method, a.Path, a.Name))
		}
	}
	return len(merged)
}

func (a *Action) validate(p *problems, f string) {
	if !actionRE.MatchString(a.Name) {
		p.add(f+".name", "%q is not an action name; use 1 to 48 of a-z, 0-9 and '_', starting with a letter", a.Name)
	}
	if a.Method != "" && !slices.Contains(Methods, a.Method) {
		p.add(f+".method", "is %q; use one of: %s (default POST)", a.Method, strings.Join(Methods, ", "))
	}
	if !strings.HasPrefix(a.Path, "/") {
		p.add(f+".path", "%q does not start with '/'; give the workload's HTTP path, such as \"/items/{id}\"", a.Path)
	}
	var props map[string]bool
	if len(a.Input) > 0 {
		s, err := compileSchema(a.Input)
		switch {
		case err != nil:
			p.add(f+".input_schema", "%v", err)
		case s.Type != "" && s.Type != "object":
			p.add(f+".input_schema", "has type %q; an action's input is an object, so use \"object\"", s.Type)
		case s.Properties != nil:
			props = make(map[string]bool, len(s.Properties))
			for k := range s.Properties {
				props[k] = true
			}
		}
	}
	if len(a.Output) > 0 {
		if _, err := compileSchema(a.Output); err != nil {
			p.add(f+".output_schema", "%v", err)
		}
	}
	if len(a.OutputContentTypes) > maxContentTypes {
		p.add(f+".output_content_types", "lists %d media types; at most %d", len(a.OutputContentTypes), maxContentTypes)
	}
	for j, t := range a.OutputContentTypes {
		if mt, _, err := mime.ParseMediaType(t); err != nil || mt != t || !strings.Contains(t, "/") {
			p.add(fmt.Sprintf("%s.output_content_types[%d]", f, j), "%q is not a media type; write it as type/subtype in lowercase, without parameters (image/png, application/pdf, application/x-ndjson)", t)
		}
	}
	for _, name := range pathParams(a.Path) {
		switch {
		case name == "":
			p.add(f+".path", "%q has an empty {}; name the input property that fills it", a.Path)
		case props != nil && !props[name]:
			p.add(f+".path", "uses {%s} but input_schema has no property %q; add it to input_schema.properties", name, name)
		}
	}
	for _, q := range a.Query {
		if q == "" || (props != nil && !props[q]) {
			p.add(f+".query", "names %q, which is not a property of input_schema; list only input properties", q)
		}
	}
	if a.Body != "" && props != nil && !props[a.Body] {
		p.add(f+".body", "names %q, which is not a property of input_schema; name the input property holding the request body", a.Body)
	}
}

// problems collects validation errors.
type problems struct{ errs []error }

func (p *problems) add(field, format string, args ...any) {
	// A refused value is quoted, not repeated in full: a hostile
	// manifest's megabyte name does not come back in the error.
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > 80 {
			args[i] = s[:80] + "..."
		}
	}
	p.errs = append(p.errs, errdefs.Invalid("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (p *problems) addErr(err error) { p.errs = append(p.errs, err) }

func (p *problems) err() error { return errors.Join(p.errs...) }

// reservedNames are plugin names whose tools (<plugin>_<action>) would
// sit among the built-in MCP tools.
var reservedNames = map[string]bool{"sandbox": true, "snapshot": true, "process": true, "file": true, "plugin": true}

// HostLimits are the largest sandbox the daemon can give: the engine's
// limits on a sandbox, capped by the host's admission budget. Zero fields
// are not checked.
type HostLimits struct {
	VCPUs     int
	MemoryMiB int
}

// CheckHostLimits refuses a manifest whose resources no sandbox on this
// daemon can have, at install: otherwise the plugin installs but every
// create of it fails.
func (m *Manifest) CheckHostLimits(l HostLimits) error {
	r := m.Resources
	if r == nil {
		return nil
	}
	if l.VCPUs > 0 && r.VCPUs > l.VCPUs {
		return errdefs.Invalid("plugin %s: resources.vcpus is %d, but sandboxes on this daemon get at most %d vCPUs; "+
			"declare %d or fewer (or 0 for the daemon's default)", m.Name, r.VCPUs, l.VCPUs, l.VCPUs)
	}
	if l.MemoryMiB > 0 && r.MemoryMiB > l.MemoryMiB {
		return errdefs.Invalid("plugin %s: resources.memory_mib is %d, but sandboxes on this daemon get at most %d MiB; "+
			"declare %d or less (or 0 for the daemon's default)", m.Name, r.MemoryMiB, l.MemoryMiB, l.MemoryMiB)
	}
	return nil
}
