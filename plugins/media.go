package plugins

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Media in JSON answers. An action's output schema may mark a string
// property as base64 media with the standard JSON Schema 2020-12
// annotations, "contentEncoding": "base64" and "contentMediaType" (such as
// image/png, or image/* when the workload picks the format). A surface
// that has a better way to carry such bytes than base64 in text (MCP:
// image content) takes them out of the answer with SplitMedia.

// Media is one binary value taken out of a JSON answer.
type Media struct {
	// MediaType is the value's media type: the schema's contentMediaType,
	// or what the bytes are when the schema gives a wildcard (image/*).
	MediaType string
	// Data is the decoded bytes.
	Data []byte
}

// IsMediaType reports whether a surface carries values of media type t
// as media rather than text: images and PDF documents.
func IsMediaType(t string) bool {
	return strings.HasPrefix(t, "image/") || t == "application/pdf"
}

// SplitMedia finds in a JSON answer the string values its schema marks as
// base64 media of an image or PDF type (through object properties and
// array items), decodes them, and returns the answer with each such value
// replaced by a short note naming the media it became, with the media in
// the order found. Without any, the answer is returned as is. A value that
// is not valid base64 is left in place.
func SplitMedia(schema json.RawMessage, answer []byte) ([]byte, []Media) {
	if len(schema) == 0 || !bytes.Contains(schema, []byte("contentEncoding")) {
		return answer, nil
	}
	var s any
	if json.Unmarshal(schema, &s) != nil {
		return answer, nil
	}
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return answer, nil
	}
	var found []Media
	v = splitValue(s, v, &found, 0)
	if len(found) == 0 {
		return answer, nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return answer, nil
	}
	return out, found
}

func splitValue(schema, v any, found *[]Media, depth int) any {
	s, ok := schema.(map[string]any)
	if !ok || depth > 32 {
		return v
	}
	switch x := v.(type) {
	case string:
		enc, _ := s["contentEncoding"].(string)
		mt, _ := s["contentMediaType"].(string)
		if !strings.EqualFold(enc, "base64") || !IsMediaType(mediaBase(mt)) && mt != "image/*" {
			return v
		}
		data, err := base64.StdEncoding.DecodeString(x)
		if err != nil {
			if data, err = base64.RawStdEncoding.DecodeString(x); err != nil {
				return v
			}
		}
		mt = mediaBase(mt)
		if strings.HasSuffix(mt, "/*") {
			mt = mediaBase(http.DetectContentType(data))
			if !IsMediaType(mt) {
				return v
			}
		}
		*found = append(*found, Media{MediaType: mt, Data: data})
		return fmt.Sprintf("(%s, %d bytes: sent as media item %d of this answer)", mt, len(data), len(*found))
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		// Keys in order, so media items are numbered the same every time.
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if ps, ok := props[k]; ok {
				x[k] = splitValue(ps, x[k], found, depth+1)
			}
		}
		return x
	case []any:
		items, ok := s["items"]
		if !ok {
			return x
		}
		for i := range x {
			x[i] = splitValue(items, x[i], found, depth+1)
		}
		return x
	}
	return v
}

func mediaBase(t string) string {
	base, _, _ := strings.Cut(t, ";")
	return strings.ToLower(strings.TrimSpace(base))
}
