package live_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/mcp"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// benchAPI is rest.New and the MCP streamable HTTP handler mounted as
// volantd mounts them (REST at /, MCP at /mcp behind the same token
// check), over a real engine on a loopback listener, with one running
// sandbox.
type benchAPI struct {
	env   *sandboxtest.Env
	srv   *httptest.Server
	token string
	hc    *http.Client
	sb    sandbox.Sandbox
}

func newBenchAPI(b *testing.B) *benchAPI {
	b.Helper()
	env := sandboxtest.New(b, nil) // skips when guests cannot boot here
	a := auth.New(authtest.NewStore(), nil)
	tok, _, err := a.Create(context.Background(), "bench", auth.CreateOptions{Scope: auth.ScopeAdmin})
	if err != nil {
		b.Fatal(err)
	}
	mcpSrv := mcp.New(mcp.Options{Manager: env.Manager, Version: "bench"})
	b.Cleanup(func() { mcpSrv.Close() })
	mux := http.NewServeMux()
	mux.Handle("/mcp", a.Middleware(mcpSrv.Handler()))
	mux.Handle("/", rest.New(rest.Options{Manager: env.Manager, Auth: a, Events: env.Bus, Version: "bench"}))
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	// Enough idle connections that concurrent clients keep theirs.
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	ba := &benchAPI{env: env, srv: srv, token: tok, hc: &http.Client{Transport: tr}}
	if _, err := ba.call("POST", "/v1/sandboxes", map[string]any{"name": "bench"}, &ba.sb, http.StatusCreated); err != nil {
		b.Fatal(err)
	}
	return ba
}

// call sends one authenticated request and checks its status. It returns
// how long the request took, body read included.
func (ba *benchAPI) call(method, path string, body, out any, want int) (time.Duration, error) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, ba.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+ba.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := ba.hc.Do(req)
	if err != nil {
		return 0, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != want {
		return 0, fmt.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return 0, fmt.Errorf("decoding %s: %w", data, err)
		}
	}
	return d, nil
}

// quantile returns the q-quantile of sorted samples (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// reportP50P99 reports the median and p99 of samples in milliseconds.
func reportP50P99(b *testing.B, samples []time.Duration, unit string) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	b.ReportMetric(ms(quantile(samples, 0.5)), "p50-"+unit)
	b.ReportMetric(ms(quantile(samples, 0.99)), "p99-"+unit)
}

// BenchmarkListSandboxes1000 measures GET /v1/sandboxes with 1,000
// stopped sandbox rows in the store (inserted straight into it: they need
// no VM) and one running sandbox: a default page of 100, and one page of
// all 1,000.
func BenchmarkListSandboxes1000(b *testing.B) {
	ba := newBenchAPI(b)
	ctx := context.Background()
	// The rows copy the real sandbox's record, so their spec is as big as
	// a real one's.
	proto, err := ba.env.Store.GetSandbox(ctx, ba.sb.ID)
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	b.Cleanup(func() {
		for _, id := range ids {
			_ = ba.env.Store.DeleteSandbox(context.Background(), id)
		}
	})
	for i := range 1000 {
		rec := proto
		rec.ID = fmt.Sprintf("sbx-bench%04d", i)
		rec.Name = fmt.Sprintf("bench-%04d", i)
		rec.State = string(sandbox.StateStopped)
		rec.Labels = map[string]string{"team": fmt.Sprintf("t%d", i%10), "bench": "list"}
		rec.VMDir, rec.Tap, rec.IP, rec.MAC = "", "", "", ""
		rec.CreatedAt, rec.UpdatedAt, rec.LastActiveAt = time.Time{}, time.Time{}, time.Time{}
		if _, err := ba.env.Store.CreateSandbox(ctx, rec); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	for _, tt := range []struct {
		name  string
		limit int
	}{{"page=100", 100}, {"page=1000", 1000}} {
		b.Run(tt.name, func(b *testing.B) {
			path := fmt.Sprintf("/v1/sandboxes?limit=%d", tt.limit)
			var page sandbox.ListPage
			if _, err := ba.call("GET", path, nil, &page, 200); err != nil {
				b.Fatal(err)
			}
			if len(page.Items) != tt.limit {
				b.Fatalf("a page of %d, want %d", len(page.Items), tt.limit)
			}
			var samples []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				d, err := ba.call("GET", path, nil, nil, 200)
				if err != nil {
					b.Fatal(err)
				}
				samples = append(samples, d)
			}
			reportP50P99(b, samples, "ms")
		})
	}
}

// BenchmarkExecConcurrent measures POST /v1/sandboxes/{id}/exec
// {"cmd":["true"]} from 50 concurrent clients against one running
// sandbox. Each of the 50 clients does b.N requests; the figures are the
// latency of each request and the requests answered per second.
func BenchmarkExecConcurrent(b *testing.B) {
	const clients = 50
	ba := newBenchAPI(b)
	path := "/v1/sandboxes/" + ba.sb.ID + "/exec"
	body := map[string]any{"cmd": []string{"true"}}
	var res sandbox.ExecResult
	if _, err := ba.call("POST", path, body, &res, 200); err != nil || res.ExitCode != 0 {
		b.Fatalf("warm-up exec: %+v, %v", res, err)
	}

	var (
		mu      sync.Mutex
		samples []time.Duration
		failed  error
	)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, b.N)
			for range b.N {
				var res sandbox.ExecResult
				d, err := ba.call("POST", path, body, &res, 200)
				if err == nil && res.ExitCode != 0 {
					err = fmt.Errorf("exec true: %+v", res)
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				mine = append(mine, d)
			}
			mu.Lock()
			samples = append(samples, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	reportP50P99(b, samples, "ms")
	b.ReportMetric(float64(len(samples))/elapsed.Seconds(), "req/s")
}

// BenchmarkExecMCPvsREST measures the cost of an MCP tools/call of
// sandbox_exec with cmd ["true"] (go-sdk client over streamable HTTP)
// against the same exec through POST /v1/sandboxes/{id}/exec, alternating
// the two on one engine, one sandbox and one listener so that both see
// the same machine.
func BenchmarkExecMCPvsREST(b *testing.B) {
	ba := newBenchAPI(b)
	ctx := context.Background()
	hc := &http.Client{Transport: &bearer{token: ba.token, next: ba.hc.Transport}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "bench"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: ba.srv.URL + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cs.Close() })

	path := "/v1/sandboxes/" + ba.sb.ID + "/exec"
	body := map[string]any{"cmd": []string{"true"}}
	args := map[string]any{"sandbox_id": ba.sb.ID, "cmd": []string{"true"}}
	restExec := func() time.Duration {
		var res sandbox.ExecResult
		d, err := ba.call("POST", path, body, &res, 200)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("REST exec: %+v, %v", res, err)
		}
		return d
	}
	mcpExec := func() time.Duration {
		start := time.Now()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "sandbox_exec", Arguments: args})
		d := time.Since(start)
		if err != nil || res.IsError {
			b.Fatalf("MCP sandbox_exec: %v %+v", err, res)
		}
		if out, ok := res.StructuredContent.(map[string]any); !ok || out["exit_code"] != float64(0) {
			b.Fatalf("MCP sandbox_exec: %+v", res.StructuredContent)
		}
		return d
	}
	restExec()
	mcpExec()

	var restS, mcpS, diffS []time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so neither always follows the other.
		var r, m time.Duration
		if i%2 == 0 {
			r = restExec()
			m = mcpExec()
		} else {
			m = mcpExec()
			r = restExec()
		}
		restS, mcpS, diffS = append(restS, r), append(mcpS, m), append(diffS, m-r)
	}
	// The median of each pair's difference is less swayed by the load of
	// a shared machine than the difference of the medians.
	sort.Slice(diffS, func(i, j int) bool { return diffS[i] < diffS[j] })
	b.ReportMetric(ms(quantile(diffS, 0.5)), "median-pair-mcp-minus-rest-ms")
	sort.Slice(restS, func(i, j int) bool { return restS[i] < restS[j] })
	sort.Slice(mcpS, func(i, j int) bool { return mcpS[i] < mcpS[j] })
	r, m := quantile(restS, 0.5), quantile(mcpS, 0.5)
	b.ReportMetric(ms(r), "median-rest-ms")
	b.ReportMetric(ms(m), "median-mcp-ms")
	b.ReportMetric(ms(quantile(restS, 0.9)), "p90-rest-ms")
	b.ReportMetric(ms(quantile(mcpS, 0.9)), "p90-mcp-ms")
	b.ReportMetric(float64(m)/float64(r), "mcp/rest")
}

// bearer adds the API token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (t *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(r)
}
