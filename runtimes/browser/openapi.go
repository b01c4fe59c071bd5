package browser

import (
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
)

// OpenAPI returns the service's OpenAPI 3.1 document, built from the
// actions' request types; every operation becomes a plugin action (and so
// an MCP tool named browser_<action>).
func OpenAPI() ([]byte, error) {
	paths := map[string]any{}
	for _, a := range actions {
		schema, err := jsonschema.ForType(a.req, nil)
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", a.name, err)
		}
		resp := map[string]any{"description": "the action's answer"}
		if len(a.media) > 0 {
			content := map[string]any{}
			for _, m := range a.media {
				content[m] = map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": m}}
			}
			resp["content"] = content
		} else {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		paths["/"+a.name] = map[string]any{
			"post": map[string]any{
				"operationId": a.name,
				"summary":     a.summary,
				"requestBody": map[string]any{
					"required": true,
					"content":  map[string]any{"application/json": map[string]any{"schema": schema}},
				},
				"responses": map[string]any{"200": resp},
			},
		}
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "browser",
			"version":     "1.0.0",
			"description": "A headless Chromium per sandbox, driven by actions an agent knows from Playwright's MCP server.",
		},
		"paths": paths,
	}
	return json.MarshalIndent(doc, "", "  ")
}
