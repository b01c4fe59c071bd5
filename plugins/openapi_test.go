package plugins

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
)

// petstore is a realistic OpenAPI 3.0 document: refs to schemas,
// parameters, request bodies and responses; path-level and operation
// parameters; object and array bodies; camelCase operationIds; an
// operation without an id; a cyclic schema no operation uses.
const petstore = `{
  "openapi": "3.0.3",
  "info": {"title": "pets", "version": "1"},
  "paths": {
    "/pets": {
      "get": {
        "operationId": "listPets",
        "summary": "List pets",
        "parameters": [
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "exclusiveMaximum": true, "maximum": 100}},
          {"$ref": "#/components/parameters/Tag"},
          {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}
        ],
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "post": {
        "operationId": "createPet",
        "description": "Create a pet",
        "requestBody": {"$ref": "#/components/requestBodies/NewPet"},
        "responses": {"201": {"description": "made", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}
      }
    },
    "/pets/{petId}": {
      "parameters": [{"name": "petId", "in": "path", "required": true, "description": "the pet", "schema": {"type": "integer"}}],
      "get": {"operationId": "getPetByID", "responses": {"2XX": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}},
      "put": {
        "operationId": "HTTPReplacePet",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": {"type": "string"}}}}},
        "responses": {"204": {"description": "done"}}
      },
      "delete": {"responses": {"204": {"description": "no id, skipped"}}},
      "head": {"operationId": "headPet", "responses": {}}
    },
    "/pets/{petId}/photos/{photo-id}": {
      "patch": {
        "operationId": "pets.photos-update",
        "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
        "responses": {"default": {"description": "x", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
      }
    }
  },
  "components": {
    "parameters": {
      "Tag": {"name": "tag", "in": "query", "required": true, "schema": {"type": "string", "nullable": true}}
    },
    "requestBodies": {
      "NewPet": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}}}
    },
    "responses": {
      "Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "NewPet": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "tag": {"type": "string"}}},
      "Pet": {"allOf": [{"$ref": "#/components/schemas/NewPet"}, {"type": "object", "properties": {"id": {"type": "integer", "format": "int64"}}}]},
      "Error": {"type": "object", "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}},
      "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}
    }
  }
}`

func TestActionsFromOpenAPI(t *testing.T) {
	got, err := ActionsFromOpenAPI([]byte(petstore))
	if err != nil {
		t.Fatalf("ActionsFromOpenAPI: %v", err)
	}
	newPet := `{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"tag":{"type":"string"}}}`
	pet := `{"allOf":[` + newPet + `,{"type":"object","properties":{"id":{"type":"integer","format":"int64"}}}]}`
	errSchema := `{"type":"object","properties":{"code":{"type":"integer"},"message":{"type":"string"}}}`
	want := []Action{{
		Name: "list_pets", Description: "List pets", Method: "GET", Path: "/pets", Source: SourceOpenAPI,
		Input: raw(`{"type":"object","properties":{
			"limit":{"type":"integer","minimum":1,"exclusiveMaximum":100},
			"tag":{"type":["string","null"]}},"required":["tag"]}`),
		Output: raw(`{"type":"array","items":` + pet + `}`),
		Query:  []string{"limit", "tag"},
	}, {
		Name: "create_pet", Description: "Create a pet", Method: "POST", Path: "/pets", Source: SourceOpenAPI,
		Input:  raw(`{"type":"object","properties":{"name":{"type":"string"},"tag":{"type":"string"}},"required":["name"]}`),
		Output: raw(pet),
	}, {
		Name: "get_pet_by_id", Method: "GET", Path: "/pets/{petId}", Source: SourceOpenAPI,
		Input:  raw(`{"type":"object","properties":{"petId":{"type":"integer","description":"the pet"}},"required":["petId"]}`),
		Output: raw(pet),
	}, {
		Name: "http_replace_pet", Method: "PUT", Path: "/pets/{petId}", Source: SourceOpenAPI,
		Input: raw(`{"type":"object","properties":{"petId":{"type":"integer","description":"the pet"},
			"body":{"type":"array","items":{"type":"string"}}},"required":["petId","body"]}`),
		Body: "body",
	}, {
		Name: "pets_photos_update", Method: "PATCH", Path: "/pets/{petId}/photos/{photo-id}", Source: SourceOpenAPI,
		Input:  raw(`{"type":"object","properties":{"petId":{"type":"string"},"photo-id":{"type":"string"}},"required":["petId","photo-id"]}`),
		Output: raw(errSchema),
	}}
	if diff := cmp.Diff(want, got, cmp.Comparer(sameJSON)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	// Every action passes the manifest's own rules.
	m := &Manifest{SchemaVersion: 1, Name: "pets", Version: "1", Workload: &Workload{Command: []string{"/pets"}, Port: 80}, OpenAPI: raw(petstore)}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate of a manifest with the document: %v", err)
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// sameJSON compares JSON documents by value.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return cmp.Equal(x, y)
}

func TestActionsFromOpenAPIBodies(t *testing.T) {
	doc := `{"openapi":"3.1.0","paths":{
	  "/a/{id}":{"post":{"operationId":"clash","parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"string"}}],
	    "requestBody":{"content":{"application/json":{"schema":{"type":"object","properties":{"id":{"type":"string"},"x":{"type":"integer"}}}}}}}},
	  "/b":{"post":{"operationId":"composed","requestBody":{"content":{"application/json":{"schema":{"oneOf":[{"type":"string"},{"type":"integer"}]}}}}}},
	  "/c":{"post":{"operationId":"sibling","requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/S","description":"over"}}}}}}
	},"components":{"schemas":{"S":{"type":"object","description":"base","properties":{"s":{"type":"string"}}}}}}`
	got, err := ActionsFromOpenAPI([]byte(doc))
	if err != nil {
		t.Fatalf("ActionsFromOpenAPI: %v", err)
	}
	want := map[string]struct{ input, body string }{
		// A body property named like a parameter keeps the body whole.
		"clash": {`{"type":"object","properties":{"id":{"type":"string"},
			"body":{"type":"object","properties":{"id":{"type":"string"},"x":{"type":"integer"}}}},"required":["id"]}`, "body"},
		"composed": {`{"type":"object","properties":{"body":{"oneOf":[{"type":"string"},{"type":"integer"}]}}}`, "body"},
		// Keys beside a $ref override the target's (OpenAPI 3.1).
		"sibling": {`{"type":"object","properties":{"s":{"type":"string"}}}`, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d actions, want %d", len(got), len(want))
	}
	for _, a := range got {
		w := want[a.Name]
		if !sameJSON(a.Input, raw(w.input)) {
			t.Errorf("%s input = %s, want %s", a.Name, a.Input, w.input)
		}
		if a.Body != w.body {
			t.Errorf("%s body = %q, want %q", a.Name, a.Body, w.body)
		}
	}
}

func TestActionName(t *testing.T) {
	tests := map[string]string{
		"listPets":                    "list_pets",
		"getPetByID":                  "get_pet_by_id",
		"HTTPServer":                  "http_server",
		"getHTTPResponse2xx":          "get_http_response2xx",
		"already_snake":               "already_snake",
		"pets.photos-update":          "pets_photos_update",
		"__x__":                       "x",
		"2fa":                         "op_2fa",
		"---":                         "op",
		"a" + strings.Repeat("B", 60): "a_" + strings.Repeat("b", 46),
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstu_v": "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstu",
	}
	for in, want := range tests {
		if got := actionName(in); got != want {
			t.Errorf("actionName(%q) = %q, want %q", in, got, want)
		}
		if got := actionName(in); !actionRE.MatchString(got) {
			t.Errorf("actionName(%q) = %q, not a valid action name", in, got)
		}
	}
}

func TestActionsFromOpenAPIErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"not json", `{`, []string{"the OpenAPI document is not valid JSON"}},
		{"swagger", `{"swagger":"2.0","paths":{}}`, []string{"Swagger 2.0; convert it to OpenAPI 3.0 or 3.1"}},
		{"no version", `{"paths":{}}`, []string{`"openapi" version is ""`}},
		{"version 4", `{"openapi":"4.0","paths":{}}`, []string{`"openapi" version is "4.0"`}},
		{"paths not object", `{"openapi":"3.1.0","paths":[]}`, []string{"paths is not an object"}},
		{"cycle", `{"openapi":"3.0.0","paths":{"/n":{"post":{"operationId":"addNode",
			"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Node"}}}}}}},
			"components":{"schemas":{"Node":{"type":"object","properties":{"next":{"$ref":"#/components/schemas/Next"}}},
			"Next":{"type":"array","items":{"$ref":"#/components/schemas/Node"}}}}}`,
			[]string{"POST /n (operationId addNode): requestBody: $ref cycle #/components/schemas/Node → #/components/schemas/Next → #/components/schemas/Node"}},
		{"remote ref", `{"openapi":"3.1.0","paths":{"/r":{"get":{"operationId":"r","responses":{"200":{"content":{"application/json":{"schema":{"$ref":"other.json#/X"}}}}}}}}}`,
			[]string{`GET /r (operationId r): responses.200: $ref "other.json#/X" is not local`}},
		{"dangling ref", `{"openapi":"3.1.0","paths":{"/r":{"get":{"operationId":"r","parameters":[{"$ref":"#/components/parameters/Nope"}]}}}}`,
			[]string{`GET /r (operationId r): parameters[0]: $ref "#/components/parameters/Nope" points to nothing`}},
		{"name clash", `{"openapi":"3.1.0","paths":{"/a":{"get":{"operationId":"getThing"}},"/b":{"get":{"operationId":"get_thing"}}}}`,
			[]string{`GET /b (operationId get_thing): gives the action name "get_thing", as GET /a (operationId getThing) does`}},
		{"param without name", `{"openapi":"3.1.0","paths":{"/a":{"get":{"operationId":"a","parameters":[{"in":"query"}]}}}}`,
			[]string{"GET /a (operationId a): parameters[0] lacks a name"}},
		{"two bad operations", `{"openapi":"3.1.0","paths":{"/a":{"get":{"operationId":"a","parameters":3}},"/b":{"put":"x"}}}`,
			[]string{"GET /a (operationId a): parameters is not an array", "PUT /b: the operation is not an object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ActionsFromOpenAPI([]byte(tt.doc))
			if err == nil {
				t.Fatal("ActionsFromOpenAPI succeeded, want an error")
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

func TestActionsFromOpenAPIRefBlowUp(t *testing.T) {
	// S0 refers to S1 ten times, S1 to S2 ten times, ...: 10^8 values.
	var b strings.Builder
	b.WriteString(`{"openapi":"3.1.0","paths":{"/x":{"post":{"operationId":"x","requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/S0"}}}}}}},"components":{"schemas":{`)
	for i := range 8 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"S` + string(rune('0'+i)) + `":{"type":"object","properties":{`)
		for j := range 10 {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"p` + string(rune('0'+j)) + `":{"$ref":"#/components/schemas/S` + string(rune('0'+i+1)) + `"}`)
		}
		b.WriteString(`}}`)
	}
	b.WriteString(`,"S8":{"type":"string"}}}}`)
	_, err := ActionsFromOpenAPI([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "expand to more than") {
		t.Fatalf("ActionsFromOpenAPI error = %v, want one about expansion", err)
	}
}
