package plugins

import (
	"errors"
	"os"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

// FuzzParseManifest: any bytes give a manifest or an invalid-argument
// error, never a panic; a manifest that parses parses again the same way.
func FuzzParseManifest(f *testing.F) {
	if raw, err := os.ReadFile("../examples/plugins/echo/plugin.json"); err == nil {
		f.Add(raw)
	}
	f.Add([]byte(`{"schema_version":1,"name":"echo","version":"1","artifacts":[{"path":"/x","content":"aGk="}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParseManifest(raw)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ParseManifest error not invalid-argument: %v", err)
			}
			return
		}
		if m.Name == "" {
			t.Fatal("a manifest without a name parsed")
		}
		for _, a := range m.Artifacts {
			if a.Source != "" && checkSource(a.Source) != nil {
				t.Fatalf("source %q passed validation but checkSource refuses it", a.Source)
			}
		}
	})
}

// FuzzActionsFromOpenAPI: any document gives actions or an error, never a
// panic or an action without a name.
func FuzzActionsFromOpenAPI(f *testing.F) {
	f.Add([]byte(`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/run":{"post":{"operationId":"run","requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"cmd":{"type":"string"}}}}}}}}}}`))
	f.Add([]byte(`{"openapi":"3.1.0","paths":{"/a/{id}":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"$ref":"#/components/schemas/Id"}}],"get":{"operationId":"get_a"}}},"components":{"schemas":{"Id":{"$ref":"#/components/schemas/Id"}}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		actions, err := ActionsFromOpenAPI(doc)
		if err != nil {
			return
		}
		for _, a := range actions {
			if a.Name == "" {
				t.Fatalf("an action without a name from %q", doc)
			}
		}
	})
}
