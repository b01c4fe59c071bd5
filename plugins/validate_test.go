package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

// validManifest is a manifest that passes Validate; tests break one rule
// at a time.
func validManifest() *Manifest {
	return &Manifest{
		SchemaVersion: 1,
		Name:          "echo",
		Version:       "1.0.0",
		Artifacts: []Artifact{
			{Path: "/usr/local/bin/echo-server", Source: "/opt/echo/server", SHA256: strings.Repeat("a", 64), Mode: "0755"},
			{Path: "/etc/echo.conf", Content: []byte("port=8080\n")},
		},
		Workload: &Workload{Command: []string{"/usr/local/bin/echo-server"}, Port: 8080, Health: "/healthz", Restart: "on-failure", ReadyTimeoutS: 10},
		Actions: []Action{{
			Name:   "get_item",
			Method: "GET",
			Path:   "/items/{id}",
			Input:  json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"},"verbose":{"type":"boolean"}},"required":["id"]}`),
			Output: json.RawMessage(`{"type":"object"}`),
			Query:  []string{"verbose"},
		}, {
			Name: "echo",
			Path: "/echo",
		}},
		Resources: &Resources{VCPUs: 2, MemoryMiB: 512},
	}
}

func TestValidManifest(t *testing.T) {
	if err := validManifest().Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Manifest)
		want   string // in the error
	}{
		{"schema version", func(m *Manifest) { m.SchemaVersion = 2 }, "schema_version: is 2; set it to 1"},
		{"name empty", func(m *Manifest) { m.Name = "" }, "name: "},
		{"name one char", func(m *Manifest) { m.Name = "e" }, "name: "},
		{"name upper", func(m *Manifest) { m.Name = "Echo" }, "name: \"Echo\" is not a plugin name"},
		{"name digit first", func(m *Manifest) { m.Name = "1echo" }, "name: "},
		{"name too long", func(m *Manifest) { m.Name = "a" + strings.Repeat("b", 32) }, "name: "},
		{"name default", func(m *Manifest) { m.Name = "default" }, `name: "default" is the built-in`},
		{"version empty", func(m *Manifest) { m.Version = "" }, "version: is empty"},
		{"version long", func(m *Manifest) { m.Version = strings.Repeat("1", 65) }, "version: is 65 characters"},
		{"artifact relative", func(m *Manifest) { m.Artifacts[0].Path = "usr/bin/x" }, "artifacts[0].path: \"usr/bin/x\" is not absolute"},
		{"artifact unclean", func(m *Manifest) { m.Artifacts[0].Path = "/usr//bin/../x" }, `artifacts[0].path: "/usr//bin/../x" is not clean; write it as "/usr/x"`},
		{"artifact root", func(m *Manifest) { m.Artifacts[0].Path = "/" }, "artifacts[0].path: \"/\" is a directory"},
		{"artifact empty path", func(m *Manifest) { m.Artifacts[0].Path = "" }, "artifacts[0].path: is empty"},
		{"artifact proc", func(m *Manifest) { m.Artifacts[1].Path = "/proc/x" }, "artifacts[1].path: /proc/x is under /proc"},
		{"artifact sys", func(m *Manifest) { m.Artifacts[1].Path = "/sys" }, "artifacts[1].path: /sys is under /sys"},
		{"artifact dev", func(m *Manifest) { m.Artifacts[1].Path = "/dev/null" }, "artifacts[1].path: /dev/null is under /dev"},
		{"artifact devices ok", func(m *Manifest) { m.Artifacts[1].Path = "/devices/x" }, ""},
		{"artifact duplicate", func(m *Manifest) { m.Artifacts[1].Path = m.Artifacts[0].Path }, "artifacts[1].path: /usr/local/bin/echo-server is also the path of artifacts[0]"},
		{"artifact neither", func(m *Manifest) { m.Artifacts[1].Content = nil }, "artifacts[1]: has neither source nor content"},
		{"artifact empty content ok", func(m *Manifest) { m.Artifacts[1].Content = []byte{} }, ""},
		{"artifact both", func(m *Manifest) { m.Artifacts[0].Content = []byte("x") }, "artifacts[0]: has both source and content"},
		{"artifact source leaves the dirs", func(m *Manifest) { m.Artifacts[0].Source = "../etc/shadow" }, "artifacts[0].source: \"../etc/shadow\" leaves the plugin directories"},
		{"artifact source file URL", func(m *Manifest) { m.Artifacts[0].Source = "file:///etc/shadow" }, "artifacts[0].source: \"file:///etc/shadow\": only http and https URLs"},
		{"artifact source URL with credentials", func(m *Manifest) { m.Artifacts[0].Source = "https://u:p@example.com/x" }, "carries credentials"},
		{"artifact no sha", func(m *Manifest) { m.Artifacts[0].SHA256 = "" }, "artifacts[0].sha256: is required with source"},
		{"artifact short sha", func(m *Manifest) { m.Artifacts[0].SHA256 = "abc" }, "artifacts[0].sha256: \"abc\" is not a sha256 digest"},
		{"artifact upper sha", func(m *Manifest) { m.Artifacts[0].SHA256 = strings.Repeat("A", 64) }, "artifacts[0].sha256: "},
		{"artifact non-hex sha", func(m *Manifest) { m.Artifacts[0].SHA256 = strings.Repeat("g", 64) }, "artifacts[0].sha256: "},
		{"artifact bad sha with content", func(m *Manifest) { m.Artifacts[1].SHA256 = "zz" }, "artifacts[1].sha256: "},
		{"artifact mode not octal", func(m *Manifest) { m.Artifacts[0].Mode = "0789" }, "artifacts[0].mode: \"0789\" is not a permission mode"},
		{"artifact mode too big", func(m *Manifest) { m.Artifacts[0].Mode = "04755" }, "artifacts[0].mode: "},
		{"artifact mode words", func(m *Manifest) { m.Artifacts[0].Mode = "rwx" }, "artifacts[0].mode: "},
		{"too many artifacts", func(m *Manifest) {
			m.Artifacts = nil
			for i := range 65 {
				m.Artifacts = append(m.Artifacts, Artifact{Path: fmt.Sprintf("/f%d", i), Content: []byte("x")})
			}
		}, "artifacts: lists 65 files; use at most 64"},
		{"command empty", func(m *Manifest) { m.Workload.Command = nil }, "workload.command: is empty"},
		{"command blank", func(m *Manifest) { m.Workload.Command = []string{""} }, "workload.command: is empty"},
		{"port negative", func(m *Manifest) { m.Workload.Port = -1 }, "workload.port: is -1"},
		{"port big", func(m *Manifest) { m.Workload.Port = 65536 }, "workload.port: is 65536"},
		{"health", func(m *Manifest) { m.Workload.Health = "healthz" }, "workload.health: \"healthz\" does not start with '/'"},
		{"restart", func(m *Manifest) { m.Workload.Restart = "sometimes" }, "workload.restart: is \"sometimes\"; use one of: always, on-failure, never"},
		{"ready timeout", func(m *Manifest) { m.Workload.ReadyTimeoutS = 601 }, "workload.ready_timeout_s: is 601"},
		{"ready timeout negative", func(m *Manifest) { m.Workload.ReadyTimeoutS = -1 }, "workload.ready_timeout_s: is -1"},
		{"env name", func(m *Manifest) { m.Workload.Env = map[string]string{"A=B": "c"} }, "workload.env: has the name \"A=B\""},
		{"cwd", func(m *Manifest) { m.Workload.Cwd = "srv" }, "workload.cwd: \"srv\" is not absolute"},
		{"action name", func(m *Manifest) { m.Actions[0].Name = "Get-Item" }, "actions[0].name: \"Get-Item\" is not an action name"},
		{"action name long", func(m *Manifest) { m.Actions[1].Name = "a" + strings.Repeat("b", 48) }, "actions[1].name: "},
		{"action name one letter ok", func(m *Manifest) { m.Actions[1].Name = "e" }, ""},
		{"action duplicate", func(m *Manifest) { m.Actions[1].Name = "get_item" }, "actions[1].name: \"get_item\" is also the name of actions[0]"},
		{"action method", func(m *Manifest) { m.Actions[0].Method = "HEAD" }, "actions[0].method: is \"HEAD\"; use one of: GET, POST, PUT, PATCH, DELETE"},
		{"action method lower", func(m *Manifest) { m.Actions[0].Method = "get" }, "actions[0].method: "},
		{"action path", func(m *Manifest) { m.Actions[1].Path = "echo" }, "actions[1].path: \"echo\" does not start with '/'"},
		{"action path param missing", func(m *Manifest) { m.Actions[0].Path = "/items/{item_id}" }, "actions[0].path: uses {item_id} but input_schema has no property \"item_id\""},
		{"action path param without properties ok", func(m *Manifest) { m.Actions[1].Path = "/echo/{x}" }, ""},
		{"action path empty param", func(m *Manifest) { m.Actions[1].Path = "/echo/{}" }, "actions[1].path: \"/echo/{}\" has an empty {}"},
		{"action query unknown", func(m *Manifest) { m.Actions[0].Query = []string{"nope"} }, "actions[0].query: names \"nope\""},
		{"action body unknown", func(m *Manifest) { m.Actions[0].Body = "payload" }, "actions[0].body: names \"payload\""},
		{"action source", func(m *Manifest) { m.Actions[0].Source = "openapi" }, "actions[0].source: is \"openapi\""},
		{"input not json schema", func(m *Manifest) { m.Actions[0].Input = json.RawMessage(`{"type":12}`) }, "actions[0].input_schema: is not a JSON Schema"},
		{"input bad type", func(m *Manifest) { m.Actions[0].Input = json.RawMessage(`{"type":"strin"}`) }, `actions[0].input_schema: is not a valid JSON Schema: type "strin" is not a JSON type`},
		{"output nested bad type", func(m *Manifest) {
			m.Actions[0].Output = json.RawMessage(`{"type":"object","properties":{"a":{"type":"array","items":{"type":["string","nul"]}}}}`)
		}, `actions[0].output_schema: is not a valid JSON Schema: type "nul" at /properties/a/items is not a JSON type`},
		{"input not object", func(m *Manifest) { m.Actions[1].Input = json.RawMessage(`{"type":"string"}`) }, "actions[1].input_schema: has type \"string\""},
		{"input remote ref", func(m *Manifest) {
			m.Actions[1].Input = json.RawMessage(`{"type":"object","properties":{"x":{"$ref":"https://example.com/s.json"}}}`)
		}, "actions[1].input_schema: is not a valid JSON Schema"},
		{"output bad", func(m *Manifest) { m.Actions[0].Output = json.RawMessage(`{"minimum":"x"}`) }, "actions[0].output_schema: "},
		{"actions need port", func(m *Manifest) { m.Workload.Port = 0 }, "workload.port: is not set but the plugin has 2 actions"},
		{"actions need workload", func(m *Manifest) { m.Workload = nil }, "workload.port: is not set but the plugin has 2 actions"},
		{"no actions no port ok", func(m *Manifest) { m.Workload.Port, m.Workload.Health = 0, ""; m.Actions = nil }, ""},
		{"health needs port", func(m *Manifest) { m.Workload.Port = 0; m.Actions = nil }, "workload.health: needs workload.port"},
		{"reserved name", func(m *Manifest) { m.Name = "sandbox" }, "name: \"sandbox\" is reserved"},
		{"openapi actions need port", func(m *Manifest) {
			m.Workload.Port = 0
			m.Actions = nil
			m.OpenAPI = json.RawMessage(`{"openapi":"3.1.0","paths":{"/a":{"get":{"operationId":"a"}}}}`)
		}, "workload.port: is not set but the plugin has 1 actions"},
		{"openapi bad", func(m *Manifest) { m.OpenAPI = json.RawMessage(`{"swagger":"2.0"}`) }, "openapi: the document is Swagger 2.0"},
		{"openapi bad schema", func(m *Manifest) {
			m.OpenAPI = json.RawMessage(`{"openapi":"3.1.0","paths":{"/a":{"get":{"operationId":"a","responses":{"200":{"content":{"application/json":{"schema":{"type":"nope"}}}}}}}}}`)
		}, "openapi: GET /a (action a).output_schema: "},
		{"vcpus", func(m *Manifest) { m.Resources.VCPUs = 33 }, "resources.vcpus: is 33"},
		{"vcpus negative", func(m *Manifest) { m.Resources.VCPUs = -1 }, "resources.vcpus: is -1"},
		{"memory small", func(m *Manifest) { m.Resources.MemoryMiB = 63 }, "resources.memory_mib: is 63"},
		{"memory big", func(m *Manifest) { m.Resources.MemoryMiB = 65537 }, "resources.memory_mib: is 65537"},
		{"memory zero ok", func(m *Manifest) { m.Resources.MemoryMiB = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.change(m)
			err := m.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded, want an error containing %q", tt.want)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("Validate error %v is not ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate error:\n%v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateCollectsAllErrors(t *testing.T) {
	m := validManifest()
	m.SchemaVersion = 0
	m.Name = "X"
	m.Artifacts[0].SHA256 = ""
	m.Resources.VCPUs = 99
	err := m.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	for _, want := range []string{"schema_version:", "name:", "artifacts[0].sha256:", "resources.vcpus:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if got := len(strings.Split(err.Error(), "\n")); got != 4 {
		t.Errorf("error has %d lines, want 4:\n%v", got, err)
	}
}

func TestParseManifest(t *testing.T) {
	good := `{"schema_version":1,"name":"echo","version":"1",
		"artifacts":[{"path":"/etc/x","content":"aGk="}],
		"workload":{"command":["/bin/echo"],"port":80},
		"actions":[{"name":"run","path":"/run","input_schema":{"type":"object","whatever":1}}]}`
	m, err := ParseManifest([]byte(good))
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	if got, want := string(m.Artifacts[0].Content), "hi"; got != want {
		t.Errorf("content = %q, want %q", got, want)
	}

	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"unknown top", `{"schema_version":1,"name":"echo","version":"1","runtime":"x"}`, []string{"runtime: unknown field; remove it or use one of: actions, artifacts,"}},
		{"unknown nested", `{"schema_version":1,"name":"echo","version":"1","artifacts":[{"path":"/a","content":"","sha":"x"}],"workload":{"command":["x"],"ports":1}}`,
			[]string{"artifacts[0].sha: unknown field", "workload.ports: unknown field"}},
		{"case matters", `{"schema_version":1,"Name":"echo","version":"1"}`, []string{"Name: unknown field"}},
		{"unknown in action", `{"schema_version":1,"name":"echo","version":"1","workload":{"command":["x"],"port":1},"actions":[{"name":"a","path":"/","verb":"GET"}]}`,
			[]string{"actions[0].verb: unknown field"}},
		{"wrong type", `{"schema_version":1,"name":"echo","version":"1","workload":{"command":["x"],"port":"80"}}`, []string{"workload.port: is a string but must be an integer"}},
		{"fraction", `{"schema_version":1.5,"name":"echo","version":"1"}`, []string{"schema_version: is a fraction but must be an integer"}},
		{"object for array", `{"schema_version":1,"name":"echo","version":"1","artifacts":{}}`, []string{"artifacts: is an object but must be an array"}},
		{"env values", `{"schema_version":1,"name":"echo","version":"1","workload":{"command":["x"],"env":{"A":1}}}`, []string{"workload.env.A: is a number but must be a string"}},
		{"bad base64", `{"schema_version":1,"name":"echo","version":"1","artifacts":[{"path":"/a","content":"!!"}]}`, []string{"manifest: illegal base64"}},
		{"wrong type in array", `{"schema_version":1,"name":"echo","version":"1","artifacts":[{"path":"/a","content":"","mode":493}]}`, []string{"artifacts[0].mode: is a number but must be a string"}},
		{"not json", `{"schema_version":`, []string{"manifest: is not valid JSON"}},
		{"not object", `[1]`, []string{"manifest is not a JSON object"}},
		{"empty", ``, []string{"manifest is not a JSON object"}},
		{"too big", `{"name":"` + strings.Repeat("x", MaxManifestSize) + `"}`, []string{fmt.Sprintf("manifest is %d bytes, more than the %d allowed", MaxManifestSize+11, MaxManifestSize)}},
		{"invalid", `{"schema_version":1,"name":"echo"}`, []string{"version: is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tt.raw))
			if err == nil {
				t.Fatal("ParseManifest succeeded, want an error")
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %v is not ErrInvalidArgument", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateRootFS(t *testing.T) {
	pinned := "registry.example/app@sha256:" + strings.Repeat("0a", 32)
	sum := strings.Repeat("b", 64)
	tests := []struct {
		name string
		rf   RootFS
		want string // "" when valid
	}{
		{"oci pinned", RootFS{Kind: "oci", Ref: pinned}, ""},
		{"oci tag and digest", RootFS{Kind: "oci", Ref: "registry.example/app:1@sha256:" + strings.Repeat("0a", 32)}, ""},
		{"oci tag only", RootFS{Kind: "oci", Ref: "python:3.12-slim"}, `rootfs.ref: "python:3.12-slim" names a tag, not a digest; pin it as python:3.12-slim@sha256:<digest>`},
		{"oci short digest", RootFS{Kind: "oci", Ref: "app@sha256:abc"}, "is not a reference pinned by digest"},
		{"oci empty", RootFS{Kind: "oci"}, "rootfs.ref: is empty"},
		{"oci with sha256", RootFS{Kind: "oci", Ref: pinned, SHA256: sum}, `rootfs.sha256: is set but kind "oci" does not take it`},
		{"image debian", RootFS{Kind: "image", Name: "debian"}, ""},
		{"image unknown", RootFS{Kind: "image", Name: "ubuntu"}, `rootfs.name: is "ubuntu"; give a built-in image: debian`},
		{"rootfs path", RootFS{Kind: "rootfs", Path: "app/root.ext4", SHA256: sum}, ""},
		{"rootfs url", RootFS{Kind: "rootfs", URL: "https://example.com/root.tar.gz", SHA256: sum}, ""},
		{"rootfs both", RootFS{Kind: "rootfs", Path: "a", URL: "https://example.com/r", SHA256: sum}, "rootfs: has both path and url"},
		{"rootfs neither", RootFS{Kind: "rootfs", SHA256: sum}, "rootfs: has neither path nor url"},
		{"rootfs no sha", RootFS{Kind: "rootfs", Path: "a"}, "rootfs.sha256: is required"},
		{"rootfs escapes", RootFS{Kind: "rootfs", Path: "../a", SHA256: sum}, "leaves the plugin directories"},
		{"rootfs url in path", RootFS{Kind: "rootfs", Path: "https://example.com/r", SHA256: sum}, "is a URL; give it in url"},
		{"rootfs bad signature", RootFS{Kind: "rootfs", Path: "a", SHA256: sum, Signature: "%%"}, "rootfs.signature: is not base64"},
		{"ext4_sha256 set", RootFS{Kind: "rootfs", Path: "a", SHA256: sum, Ext4SHA256: sum}, "rootfs.ext4_sha256: is set by the registry"},
		{"no kind", RootFS{}, "rootfs.kind: is empty"},
		{"other kind", RootFS{Kind: "docker"}, `rootfs.kind: is "docker"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			rf := tt.rf
			m.RootFS = &rf
			err := m.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidatePublicKey(t *testing.T) {
	m := validManifest()
	m.PublicKey = "not a key"
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "public_key: ") {
		t.Fatalf("Validate = %v, want a public_key error", err)
	}
}

func TestParseManifestRootFSStrict(t *testing.T) {
	raw := `{"schema_version":1,"name":"app","version":"1","rootfs":{"kind":"image","name":"debian","tag":"x"}}`
	if _, err := ParseManifest([]byte(raw)); err == nil || !strings.Contains(err.Error(), "rootfs.tag: unknown field") {
		t.Fatalf("ParseManifest = %v, want rootfs.tag unknown", err)
	}
}
