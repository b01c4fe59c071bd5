package egress

import (
	"testing"
	"time"
)

// BenchmarkHTTPS fetches https://allowed.test/ over a new connection each
// time (TCP and TLS handshakes included) from a guest namespace, through
// plain NAT and through the proxy; compare the two ns/op for the added
// latency.
func BenchmarkHTTPS(b *testing.B) {
	roots := pool(testCAPEM)
	for _, tc := range []struct {
		name   string
		egress bool
	}{{"nat", false}, {"proxy", true}} {
		b.Run(tc.name, func(b *testing.B) {
			w := newWorld(b, tc.egress)
			if tc.egress {
				w.attach(b, Policy{Default: Deny, Allow: []string{"allowed.test"}})
				if got := w.resolve(b, "allowed.test"); got != outA {
					b.Fatalf("allowed.test: %q", got)
				}
			}
			if _, err := w.get("https://allowed.test/", outA+":443", roots, nil); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := w.get("https://allowed.test/", outA+":443", roots, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProxyConnections opens, uses (one HTTP GET) and closes
// connections through the proxy, several at a time, and reports
// connections per second.
func BenchmarkProxyConnections(b *testing.B) {
	w := newWorld(b, true)
	w.attach(b, Policy{Default: Deny, Allow: []string{"allowed.test"}})
	if got := w.resolve(b, "allowed.test"); got != outA {
		b.Fatalf("allowed.test: %q", got)
	}
	b.SetParallelism(4)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.get("http://allowed.test/", outA+":80", nil, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
}
