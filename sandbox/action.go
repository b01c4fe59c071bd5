package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
)

// Plugins is what the engine needs of the plugin registry;
// *plugins.Registry implements it.
type Plugins interface {
	Runtime(ctx context.Context, name string) (*plugins.Runtime, error)
	Action(ctx context.Context, plugin, action string) (*plugins.Action, error)
}

// maxActionAnswer caps the workload's answer to an action (and one line
// of a stream): a screenshot of a long page is several MB.
const maxActionAnswer = 32 << 20

// Action calls a plugin's action in a sandbox of that plugin's runtime:
// input is checked against the action's input schema and sent to the
// workload's HTTP API over the agent channel (path parameters and query
// parameters taken from it, the rest as the JSON body); the answer is
// the workload's JSON, or its bytes with their media type (see
// ActionAnswer). opts (at most one) may take the progress of a workload
// that streams.
func (m *Manager) Action(ctx context.Context, idOrName, plugin, action string, input json.RawMessage, opts ...ActionOptions) (*ActionAnswer, error) {
	var o ActionOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if m.cfg.Plugins == nil {
		return nil, errdefs.Unavailable("plugins are not enabled on this daemon")
	}
	rec, in, err := m.running(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	if rec.Runtime != plugin {
		return nil, errdefs.Invalid("sandbox %s runs runtime %q, not plugin %q; call the action on a sandbox created with runtime %q", rec.ID, rec.Runtime, plugin, plugin)
	}
	act, err := m.cfg.Plugins.Action(ctx, plugin, action)
	if err != nil {
		return nil, err
	}
	rt, err := m.cfg.Plugins.Runtime(ctx, plugin)
	if err != nil {
		return nil, err
	}
	if rt.Workload == nil || rt.Workload.Port == 0 {
		return nil, errdefs.Invalid("plugin %s has no workload port to send actions to", plugin)
	}
	args, err := actionInput(act, input)
	if err != nil {
		return nil, err
	}
	req, err := actionRequest(ctx, act, args)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", acceptOf(act, o.Progress != nil))
	agent := in.agent
	port := rt.Workload.Port
	hc := &http.Client{Transport: &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return agent.DialPort(ctx, port) },
		DisableKeepAlives: true,
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, errdefs.Unavailable("plugin %s's workload in sandbox %s did not answer %s %s: %v", plugin, rec.ID, req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, err := readCapped(plugin, action, resp.Body)
		if err != nil {
			return nil, err
		}
		return nil, actionFailed(plugin, action, resp.StatusCode, body)
	}
	return readAnswer(plugin, action, act, resp, o)
}

// actionInput decodes and checks an action's input: a JSON object (empty
// means {}) valid against the action's input schema.
func actionInput(act *plugins.Action, input json.RawMessage) (map[string]any, error) {
	if len(bytes.TrimSpace(input)) == 0 {
		input = json.RawMessage("{}")
	}
	var args map[string]any
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	if err := dec.Decode(&args); err != nil || args == nil {
		return nil, errdefs.Invalid("the input of action %s must be a JSON object: %v", act.Name, errOr(err, "got null"))
	}
	if len(act.Input) > 0 {
		// The validator wants plain JSON values, not json.Number.
		var plain any
		_ = json.Unmarshal(input, &plain)
		if err := act.CheckInput(plain); err != nil {
			return nil, err
		}
	}
	return args, nil
}

var pathParam = regexp.MustCompile(`\{([^{}]+)\}`)

// actionRequest builds the HTTP request of an action from its checked
// input: {param} path segments and query parameters come out of args,
// what is left is the JSON body (none for GET and DELETE).
func actionRequest(ctx context.Context, act *plugins.Action, args map[string]any) (*http.Request, error) {
	rest := make(map[string]any, len(args))
	for k, v := range args {
		rest[k] = v
	}
	var missing []string
	path := pathParam.ReplaceAllStringFunc(act.Path, func(seg string) string {
		name := seg[1 : len(seg)-1]
		v, ok := rest[name]
		if !ok {
			missing = append(missing, name)
			return seg
		}
		delete(rest, name)
		return url.PathEscape(scalar(v))
	})
	if len(missing) > 0 {
		return nil, errdefs.Invalid("action %s needs %s in its input (path %s)", act.Name, strings.Join(missing, ", "), act.Path)
	}
	q := url.Values{}
	for _, name := range act.Query {
		if v, ok := rest[name]; ok {
			q.Set(name, scalar(v))
			delete(rest, name)
		}
	}
	method := act.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if method != http.MethodGet && method != http.MethodDelete {
		var payload any = rest
		if act.Body != "" {
			// The whole body is one input property (OpenAPI bodies that
			// are not plain objects).
			payload = rest[act.Body]
		}
		buf, err := json.Marshal(payload)
		if err != nil {
			return nil, errdefs.Invalid("encoding the input of action %s: %v", act.Name, err)
		}
		body = bytes.NewReader(buf)
	} else {
		for k, v := range rest {
			if !q.Has(k) {
				q.Set(k, scalar(v))
			}
		}
	}
	u := "http://workload" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, errdefs.Invalid("action %s: %v", act.Name, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// scalar renders a JSON value for a path or query parameter.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// answerJSON is the workload's answer as JSON: as is when it is JSON,
// else a JSON string of it (an empty answer is null).
func answerJSON(body []byte) json.RawMessage {
	if len(bytes.TrimSpace(body)) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(body) {
		return json.RawMessage(body)
	}
	s, _ := json.Marshal(string(body))
	return s
}

// actionFailed classes a workload's error answer: its 4xx are the
// caller's to fix, its 5xx the plugin's.
func actionFailed(plugin, action string, status int, body []byte) error {
	detail := strings.TrimSpace(string(body))
	var problem struct {
		Error   string `json:"error"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	if json.Unmarshal(body, &problem) == nil {
		for _, s := range []string{problem.Detail, problem.Message, problem.Error} {
			if s != "" {
				detail = s
				break
			}
		}
	}
	if len(detail) > 2048 {
		detail = detail[:2048] + "…"
	}
	msg := fmt.Sprintf("plugin %s's action %s answered %d %s", plugin, action, status, http.StatusText(status))
	if detail != "" {
		msg += ": " + detail
	}
	switch {
	case status == http.StatusNotFound:
		return errdefs.NotFound("%s", msg)
	case status == http.StatusConflict:
		return errdefs.Conflict("%s", msg)
	case status/100 == 4:
		return errdefs.Invalid("%s", msg)
	default:
		return errdefs.Unavailable("%s", msg)
	}
}

func errOr(err error, s string) error {
	if err != nil {
		return err
	}
	return errors.New(s)
}
