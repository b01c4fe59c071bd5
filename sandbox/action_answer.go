package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
)

// An action's answer is typed: JSON (what most workloads answer), or the
// bytes of a binary media type (image/*, application/pdf, ...) with that
// type, so each surface hands them on as what they are (REST: the bytes
// with their content type; MCP: image content). A workload that streams
// (application/x-ndjson, or text/event-stream whose data lines carry the
// same JSON) sends progress lines and then one result line; the engine
// reports the progress lines to the caller as they come and answers the
// result. The line format, defined once for every plugin:
//
//	{"type":"progress","message":"the latest output line","progress":3,"total":10}
//	{"type":"result", ...the answer's fields...}
//	{"type":"error","detail":"what went wrong","status":409}
//
// A line of any other type (such as the python kernel's "stdout" and
// "stderr" lines) is progress too, its message taken from "message" or
// "text". The result line is the answer as is.

// ActionAnswer is a workload's answer to an action.
type ActionAnswer struct {
	// ContentType is the answer's media type: application/json for a JSON
	// answer (an answer that was neither JSON nor binary is a JSON
	// string; a streamed answer is its result line), else the binary
	// media type the workload gave.
	ContentType string
	// Body is the answer's bytes.
	Body []byte
	// Output is the action's output schema, when it has one: a surface
	// finds in it the JSON properties that carry base64 media
	// (plugins.SplitMedia).
	Output json.RawMessage
}

// IsJSON reports whether the answer is JSON.
func (a *ActionAnswer) IsJSON() bool { return isJSONType(a.ContentType) }

// ActionOptions tune one action call.
type ActionOptions struct {
	// Progress, when set, asks a workload whose action can stream for its
	// stream, and receives each progress line as it comes (from the
	// goroutine of the call).
	Progress func(ActionProgress)
}

// ActionProgress is one progress line of a streaming action.
type ActionProgress struct {
	// Message is the line's text: the latest output line of the workload.
	Message string
	// Progress counts up with every line, or is the workload's own
	// figure; Total is the workload's total, or 0 when unknown.
	Progress, Total float64
	// Line is the line as the workload sent it (one JSON object).
	Line json.RawMessage
}

// Media types of streams.
const (
	mediaNDJSON      = "application/x-ndjson"
	mediaEventStream = "text/event-stream"
)

// acceptOf is the Accept header of an action's request: JSON, the
// binary types the action declares, and a stream only when the caller
// takes progress (or the action answers nothing else).
func acceptOf(act *plugins.Action, progress bool) string {
	var streams, others []string
	for _, t := range act.OutputContentTypes {
		switch {
		case t == mediaNDJSON || t == mediaEventStream:
			if progress || !hasJSONType(act.OutputContentTypes) {
				streams = append(streams, t)
			}
		case !isJSONType(t):
			others = append(others, t)
		}
	}
	return strings.Join(append(append(streams, "application/json"), others...), ", ")
}

func hasJSONType(types []string) bool {
	for _, t := range types {
		if isJSONType(t) {
			return true
		}
	}
	return false
}

// isJSONType reports whether a media type is JSON (application/json,
// application/problem+json, ...).
func isJSONType(t string) bool {
	base, _, _ := strings.Cut(t, ";")
	base = strings.TrimSpace(strings.ToLower(base))
	return base == "application/json" || strings.HasSuffix(base, "+json")
}

// isBinaryType reports whether a workload's answer of media type t is
// kept as bytes rather than made JSON: anything that is not JSON, text
// or a stream.
func isBinaryType(t string) bool {
	switch {
	case t == "", isJSONType(t), strings.HasPrefix(t, "text/"), t == mediaNDJSON:
		return false
	}
	return true
}

// readAnswer turns a workload's 2xx response into the answer.
func readAnswer(plugin, action string, act *plugins.Action, resp *http.Response, opts ActionOptions) (*ActionAnswer, error) {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == mediaNDJSON || mt == mediaEventStream {
		return readStream(plugin, action, act, resp.Body, mt == mediaEventStream, opts)
	}
	body, err := readCapped(plugin, action, resp.Body)
	if err != nil {
		return nil, err
	}
	if isBinaryType(mt) {
		return &ActionAnswer{ContentType: mt, Body: body, Output: act.Output}, nil
	}
	return &ActionAnswer{ContentType: "application/json", Body: answerJSON(body), Output: act.Output}, nil
}

func readCapped(plugin, action string, r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxActionAnswer+1))
	if err != nil {
		return nil, errdefs.Unavailable("reading plugin %s's answer: %v", plugin, err)
	}
	if len(body) > maxActionAnswer {
		return nil, errdefs.Unavailable("plugin %s's answer to %s is larger than %d bytes", plugin, action, maxActionAnswer)
	}
	return body, nil
}

// streamLine is what the engine reads of a line of a stream.
type streamLine struct {
	Type     string   `json:"type"`
	Message  string   `json:"message"`
	Text     string   `json:"text"`
	Detail   string   `json:"detail"`
	Status   int      `json:"status"`
	Progress *float64 `json:"progress"`
	Total    float64  `json:"total"`
}

// readStream reads progress lines until the result line.
func readStream(plugin, action string, act *plugins.Action, r io.Reader, sse bool, opts ActionOptions) (*ActionAnswer, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxActionAnswer)
	n := 0.0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if sse {
			data, ok := bytes.CutPrefix(line, []byte("data:"))
			if !ok {
				continue // event names, ids, comments and blank lines
			}
			line = bytes.TrimSpace(data)
		}
		if len(line) == 0 {
			continue
		}
		var l streamLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, errdefs.Unavailable("plugin %s's stream for %s has a line that is not a JSON object: %.200q", plugin, action, line)
		}
		switch l.Type {
		case "result":
			return &ActionAnswer{ContentType: "application/json", Body: bytes.Clone(line), Output: act.Output}, nil
		case "error":
			status := l.Status
			if status/100 != 4 && status/100 != 5 {
				status = http.StatusBadGateway
			}
			detail, _ := json.Marshal(map[string]string{"detail": l.Detail})
			return nil, actionFailed(plugin, action, status, detail)
		}
		n++
		if opts.Progress == nil {
			continue
		}
		p := ActionProgress{Message: l.Message, Progress: n, Total: l.Total, Line: bytes.Clone(line)}
		if p.Message == "" {
			p.Message = l.Text
		}
		p.Message = lastLine(p.Message)
		if l.Progress != nil {
			p.Progress = *l.Progress
		}
		opts.Progress(p)
	}
	if err := sc.Err(); err != nil {
		return nil, errdefs.Unavailable("reading plugin %s's stream for %s: %v", plugin, action, err)
	}
	return nil, errdefs.Unavailable("plugin %s's stream for %s ended without a result line (%s)", plugin, action, fmt.Sprintf("%.0f progress lines", n))
}

// lastLine is the last non-empty line of s, the one a progress message
// shows.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		s = s[i+1:]
	}
	if r := []rune(s); len(r) > 500 {
		s = string(r[:500]) + "…"
	}
	return s
}
