package rest

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
	"github.com/volant-sh/volant/sandbox"
)

// respDoc is one documented answer of a plain handler.
type respDoc struct {
	status int
	resp   *huma.Response
}

// textResponse documents a 200 answer with a body of media type ctype.
func textResponse(desc, ctype string) respDoc {
	return respDoc{http.StatusOK, &huma.Response{
		Description: desc,
		Content:     map[string]*huma.MediaType{ctype: {Schema: &huma.Schema{Type: "string"}}},
	}}
}

// binaryResponse documents a 200 answer carrying raw bytes of type ctype.
func binaryResponse(desc, ctype string) respDoc {
	return respDoc{http.StatusOK, &huma.Response{
		Description: desc,
		Content:     map[string]*huma.MediaType{ctype: {Schema: &huma.Schema{Type: "string", Format: "binary"}}},
	}}
}

// jsonResponse documents an answer whose body is the JSON of type T.
func jsonResponse[T any](s *server, status int, desc string) respDoc {
	schema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[T](), true, "")
	return respDoc{status, &huma.Response{
		Description: desc,
		Content:     map[string]*huma.MediaType{"application/json": {Schema: schema}},
	}}
}

// switchingResponse documents a WebSocket upgrade.
func switchingResponse(desc string) respDoc {
	return respDoc{http.StatusSwitchingProtocols, &huma.Response{Description: desc}}
}

// binaryBody documents a raw request body.
func binaryBody(desc, ctype string) *huma.RequestBody {
	return &huma.RequestBody{
		Description: desc,
		Required:    true,
		Content:     map[string]*huma.MediaType{ctype: {Schema: &huma.Schema{Type: "string", Format: "binary"}}},
	}
}

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// document adds a plain handler's operation to the OpenAPI document: path
// parameters are derived from the path, extra holds query parameters, and
// errors come from o.Errors with the shared problem schema.
func (s *server) document(o huma.Operation, body *huma.RequestBody, ok respDoc, extra ...*huma.Param) {
	for _, m := range pathParamRE.FindAllStringSubmatch(o.Path, -1) {
		o.Parameters = append(o.Parameters, pathParam(m[1]))
	}
	o.Parameters = append(o.Parameters, extra...)
	o.RequestBody = body
	o.Responses = map[string]*huma.Response{strconv.Itoa(ok.status): ok.resp}
	errSchema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[problem](), true, "")
	for _, code := range o.Errors {
		o.Responses[strconv.Itoa(code)] = &huma.Response{
			Description: http.StatusText(code),
			Content:     map[string]*huma.MediaType{"application/problem+json": {Schema: errSchema}},
		}
	}
	s.api.OpenAPI().AddOperation(&o)
}

func pathParam(name string) *huma.Param {
	switch name {
	case "id":
		return &huma.Param{Name: "id", In: "path", Required: true, Description: "Sandbox id or name.",
			Schema: &huma.Schema{Type: "string", MaxLength: ptr(idMaxLen), Pattern: idPattern}}
	case "port":
		return &huma.Param{Name: "port", In: "path", Required: true, Description: "TCP port inside the sandbox.",
			Schema: &huma.Schema{Type: "integer", Minimum: ptr(1.0), Maximum: ptr(65535.0)}}
	default:
		return &huma.Param{Name: name, In: "path", Required: true, Schema: &huma.Schema{Type: "string"}}
	}
}

// queryParam documents an optional query parameter.
func queryParam(name, typ, desc string) *huma.Param {
	return &huma.Param{Name: name, In: "query", Description: desc, Schema: &huma.Schema{Type: typ}}
}

// guestPathParam documents the required ?path= of file routes.
func guestPathParam(desc string) *huma.Param {
	return &huma.Param{Name: "path", In: "query", Required: true, Description: desc,
		Schema: &huma.Schema{Type: "string", MinLength: ptr(1), MaxLength: ptr(sandbox.MaxPathLen), Pattern: "^/"}}
}

func ptr[T any](v T) *T { return &v }

// omitPatternDescriptions drops Huma's patternDescription keyword from
// the parameters of the served document: it is not OpenAPI, so linters
// reject it. The schemas validation uses are left alone (the document gets
// copies), so error messages still describe the pattern in words.
func omitPatternDescriptions(oapi *huma.OpenAPI) {
	for _, item := range oapi.Paths {
		for _, o := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Options, item.Head, item.Patch, item.Trace} {
			if o == nil {
				continue
			}
			for _, p := range o.Parameters {
				if p.Schema != nil && p.Schema.PatternDescription != "" {
					c := *p.Schema
					c.PatternDescription = ""
					p.Schema = &c
				}
			}
		}
	}
}
