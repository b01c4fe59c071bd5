package daemon_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/internal/benchfig"
)

// BenchmarkUserCreatePath is the path a user takes: a real volantd with its
// defaults (bridge network, warm pool 2) in a namespace of its own, asked
// over its API socket to create a sandbox and then run `exec true` in it,
// through REST and through MCP (sandbox_create then sandbox_exec). Creates
// are VOLANT_BENCH_CREATE_GAP apart (default 6 s) so the pool has refilled,
// as a user's would be. Figures: create, the first exec, both together; a
// cold boot (cold_boot) the same way, and the ratio. The daemon's debug log
// says where a create's time went ("create timing" lines), logged at the
// end with -v.
func BenchmarkUserCreatePath(b *testing.B) {
	ns := newTestNS(b)
	d := newNSVolantd(b, ns, "127.0.0.1:7777", "10.81.0.0/24")
	d.env = append(d.env, "VOLANT_WARM_POOL=2")
	d.start()
	gap := 6 * time.Second
	if v, err := time.ParseDuration(os.Getenv("VOLANT_BENCH_CREATE_GAP")); err == nil && v > 0 {
		gap = v
	}
	ctx := context.Background()
	cs := d.mcpSession(b)

	restPath := func(spec map[string]any) (create, exec time.Duration) {
		var sb bridgeSandbox
		start := time.Now()
		if err := d.call(ctx, "POST", "/v1/sandboxes", spec, &sb); err != nil {
			b.Fatal(err)
		}
		created := time.Now()
		var res execResult
		if err := d.call(ctx, "POST", "/v1/sandboxes/"+sb.ID+"/exec", map[string]any{"cmd": []string{"true"}}, &res); err != nil || res.ExitCode != 0 {
			b.Fatalf("exec true: %+v, %v", res, err)
		}
		exec = time.Since(created)
		if err := d.call(ctx, "DELETE", "/v1/sandboxes/"+sb.ID, nil, nil); err != nil {
			b.Fatal(err)
		}
		return created.Sub(start), exec
	}
	mcpPath := func() (create, exec time.Duration) {
		start := time.Now()
		var sb bridgeSandbox
		callTool(b, cs, "sandbox_create", map[string]any{}, &sb)
		created := time.Now()
		var res execResult
		callTool(b, cs, "sandbox_exec", map[string]any{"sandbox_id": sb.ID, "cmd": []string{"true"}}, &res)
		exec = time.Since(created)
		if err := d.call(ctx, "DELETE", "/v1/sandboxes/"+sb.ID, nil, nil); err != nil {
			b.Fatal(err)
		}
		return created.Sub(start), exec
	}

	// The first create builds the template; wait for the pool behind it.
	restPath(map[string]any{})
	time.Sleep(3 * gap)
	var restC, restE, restT, mcpC, mcpE, mcpT, coldT []time.Duration
	for b.Loop() {
		c, e := restPath(map[string]any{})
		restC, restE, restT = append(restC, c), append(restE, e), append(restT, c+e)
		time.Sleep(gap)
		c, e = mcpPath()
		mcpC, mcpE, mcpT = append(mcpC, c), append(mcpE, e), append(mcpT, c+e)
		time.Sleep(gap)
		c, e = restPath(map[string]any{"cold_boot": true})
		coldT = append(coldT, c+e)
	}
	benchfig.Durations(b, "rest-pooled-create", restC)
	benchfig.Durations(b, "rest-pooled-first-exec", restE)
	pooled := benchfig.Durations(b, "rest-pooled-create-to-first-exec", restT)
	benchfig.Durations(b, "mcp-pooled-create", mcpC)
	benchfig.Durations(b, "mcp-pooled-first-exec", mcpE)
	benchfig.Durations(b, "mcp-pooled-create-to-first-exec", mcpT)
	cold := benchfig.Durations(b, "rest-cold-create-to-first-exec", coldT)
	benchfig.Ratio(b, "rest-cold/pooled", cold, pooled)
	if testing.Verbose() {
		for _, line := range strings.Split(d.logs.String(), "\n") {
			if strings.Contains(line, "create timing") || strings.Contains(line, "vm restored") || strings.Contains(line, "exec timing") {
				b.Log(line)
			}
		}
	}
}

// mcpSession connects an MCP client to the daemon over its API socket.
func (d *nsVolantd) mcpSession(b testing.TB) *sdk.ClientSession {
	hc := &http.Client{Transport: socketBearer{token: d.token, next: d.client.Transport}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "bench"}, nil).Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: "http://volantd/mcp", HTTPClient: hc}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cs.Close() })
	return cs
}

// socketBearer adds the API token to requests sent over next.
type socketBearer struct {
	token string
	next  http.RoundTripper
}

func (t socketBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(r)
}

// callTool calls an MCP tool and decodes its structured answer into out.
func callTool(b testing.TB, cs *sdk.ClientSession, tool string, args map[string]any, out any) {
	b.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		b.Fatalf("%s: %v", tool, err)
	}
	if res.IsError {
		var msg []string
		for _, c := range res.Content {
			if t, ok := c.(*sdk.TextContent); ok {
				msg = append(msg, t.Text)
			}
		}
		b.Fatalf("%s answered an error: %s", tool, strings.Join(msg, "; "))
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err == nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		b.Fatalf("%s: decoding %v: %v", tool, res.StructuredContent, err)
	}
}
