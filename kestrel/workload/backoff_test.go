package workload

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	var b backoff
	ms := time.Millisecond
	var got []time.Duration
	for range 9 {
		got = append(got, b.next(time.Second))
	}
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10 * time.Second, 10 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waits after short runs (-want +got):\n%s", diff)
	}
	if got := b.next(resetAfter); got != minBackoff {
		t.Errorf("wait after a run of %v = %v, want the backoff reset to %v", resetAfter, got, minBackoff)
	}
	if got := b.next(0); got != 2*minBackoff {
		t.Errorf("wait after a failed start = %v, want %v", got, 2*minBackoff)
	}
}
