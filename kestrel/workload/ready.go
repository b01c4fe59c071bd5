package workload

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
)

// The readiness check: one try every probeInterval, each bounded by
// probeTimeout.
const (
	probeInterval = 50 * time.Millisecond
	probeTimeout  = time.Second
)

// prober checks workloads' readiness on the guest's loopback. Its HTTP
// client never uses a proxy and keeps no connections.
type prober struct {
	http *http.Client
}

func newProber() *prober {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true}
	return &prober{http: &http.Client{
		Transport: tr,
		// A redirect is an answer of its own: 3xx is not ready.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// wait checks spec's readiness until it passes (true) or ctx ends
// (false). Each failed try is given to failed.
func (p *prober) wait(ctx context.Context, spec client.WorkloadSpec, failed func(error)) bool {
	if spec.Port == 0 {
		return true
	}
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		err := p.try(ctx, spec)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		failed(err)
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// try checks readiness once: a 2xx answer to GET Health, or without
// Health a TCP connection to Port.
func (p *prober) try(ctx context.Context, spec client.WorkloadSpec) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.Port))
	if spec.Health == "" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("readiness: connecting to port %d: %w", spec.Port, err)
		}
		conn.Close()
		return nil
	}
	url := "http://" + addr + spec.Health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("readiness: GET %s answered %s, want 2xx", url, resp.Status)
	}
	return nil
}
