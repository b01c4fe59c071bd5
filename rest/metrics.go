package rest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/volant-sh/volant/sandbox"
)

// durationBuckets are the upper bounds (seconds) of the request duration
// histogram.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

type routeKey struct {
	method, route string
	status        int
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

// metrics counts requests by route and status. Routes are the mux
// patterns, so the label set is bounded.
type metrics struct {
	mu   sync.Mutex
	reqs map[routeKey]*histogram
}

func newMetrics() *metrics { return &metrics{reqs: map[routeKey]*histogram{}} }

// wrap measures every request h serves, labelled with the pattern mux
// would route it to.
func (m *metrics) wrap(mux *http.ServeMux, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		method, route, ok := strings.Cut(pattern, " ")
		if !ok {
			method, route = r.Method, pattern
		}
		if route == "" {
			route = "unmatched"
		}
		rw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		h.ServeHTTP(rw, r)
		m.observe(routeKey{method: method, route: route, status: rw.code()}, time.Since(start))
	})
}

func (m *metrics) observe(k routeKey, d time.Duration) {
	secs := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.reqs[k]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(durationBuckets)+1)}
		m.reqs[k] = h
	}
	i := sort.SearchFloat64s(durationBuckets, secs)
	h.counts[i]++
	h.sum += secs
	h.n++
}

// write writes the Prometheus text exposition format.
func (m *metrics) write(w io.Writer, states map[sandbox.State]int) {
	m.mu.Lock()
	keys := make([]routeKey, 0, len(m.reqs))
	for k := range m.reqs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.route != b.route {
			return a.route < b.route
		}
		if a.method != b.method {
			return a.method < b.method
		}
		return a.status < b.status
	})
	hs := make([]histogram, len(keys))
	for i, k := range keys {
		h := m.reqs[k]
		hs[i] = histogram{counts: append([]uint64(nil), h.counts...), sum: h.sum, n: h.n}
	}
	m.mu.Unlock()

	fmt.Fprintln(w, "# HELP volant_http_requests_total HTTP requests served, by route and status.")
	fmt.Fprintln(w, "# TYPE volant_http_requests_total counter")
	for i, k := range keys {
		fmt.Fprintf(w, "volant_http_requests_total{%s} %d\n", k.labels(), hs[i].n)
	}
	fmt.Fprintln(w, "# HELP volant_http_request_duration_seconds HTTP request durations, by route and status.")
	fmt.Fprintln(w, "# TYPE volant_http_request_duration_seconds histogram")
	for i, k := range keys {
		var cum uint64
		for b, le := range durationBuckets {
			cum += hs[i].counts[b]
			fmt.Fprintf(w, "volant_http_request_duration_seconds_bucket{%s,le=%q} %d\n", k.labels(), formatFloat(le), cum)
		}
		fmt.Fprintf(w, "volant_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", k.labels(), hs[i].n)
		fmt.Fprintf(w, "volant_http_request_duration_seconds_sum{%s} %s\n", k.labels(), formatFloat(hs[i].sum))
		fmt.Fprintf(w, "volant_http_request_duration_seconds_count{%s} %d\n", k.labels(), hs[i].n)
	}
	if states != nil {
		fmt.Fprintln(w, "# HELP volant_sandboxes Sandboxes by state.")
		fmt.Fprintln(w, "# TYPE volant_sandboxes gauge")
		for _, st := range sandbox.States {
			fmt.Fprintf(w, "volant_sandboxes{state=%q} %d\n", st, states[st])
		}
	}
}

// writeCapacityMetrics writes the admission figures: the configured budget
// and usage, and what sandboxes really use (measured PSS, creates in
// flight) against the host's memory less the headroom.
func writeCapacityMetrics(w io.Writer, info *sandbox.SystemInfo) {
	gauge := func(name, help string, v int) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	gauge("volant_capacity_vcpus", "Configured vCPUs the host admits (host CPUs times cpu_overcommit).", info.Capacity.VCPUs)
	gauge("volant_usage_vcpus", "Configured vCPUs given to sandboxes.", info.Usage.VCPUs)
	gauge("volant_capacity_memory_mib", "Configured guest memory the host admits (MiB).", info.Capacity.MemoryMiB)
	gauge("volant_usage_memory_mib", "Configured guest memory given to sandboxes (MiB).", info.Usage.MemoryMiB)
	gauge("volant_host_memory_mib", "The host's memory (MiB).", info.Host.MemoryMiB)
	gauge("volant_memory_headroom_mib", "Memory the operator keeps for the host (MiB).", info.Host.HeadroomMiB)
	gauge("volant_measured_memory_limit_mib", "Memory sandboxes may really use: host memory less the headroom (MiB).", info.Measured.LimitMiB)
	gauge("volant_measured_pss_mib", "Summed PSS of the live VMMs (MiB).", info.Measured.PSSMiB)
	gauge("volant_measured_vms", "Live VMMs measured.", info.Measured.VMs)
	gauge("volant_inflight_memory_mib", "Configured memory of creates in flight, not yet measured (MiB).", info.Measured.InFlightMiB)
}

// labels formats k's labels; %q escapes backslash, quote and newline as
// Prometheus wants, and routes are ASCII mux patterns.
func (k routeKey) labels() string {
	return fmt.Sprintf("method=%q,route=%q,status=\"%d\"", k.method, k.route, k.status)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// countStates pages through every sandbox and counts them by state.
func countStates(ctx context.Context, eng Engine) (map[sandbox.State]int, error) {
	out := map[sandbox.State]int{}
	opts := sandbox.ListOptions{Limit: 1000}
	for {
		page, err := eng.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, sb := range page.Items {
			out[sb.State]++
		}
		if page.Next == "" {
			return out, nil
		}
		opts.Cursor = page.Next
	}
}

// statusWriter records the status of a response. It passes Hijack and
// Flush through, so WebSocket and SSE routes work behind it.
type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	switch {
	case w.hijacked && w.status == 0:
		return http.StatusSwitchingProtocols
	case w.status == 0:
		return http.StatusOK
	}
	return w.status
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
