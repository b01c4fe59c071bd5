package events_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/events"
)

// TestSlowSubscriberIsDroppedAndResumes checks that a subscriber that stops
// reading does not hold up publishers, has its channel closed, and gets the
// rest by subscribing again from the last sequence number it saw.
func TestSlowSubscriberIsDroppedAndResumes(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, openStore(t), &events.Options{Buffer: 4})
	ch, stop := b.Subscribe(ctx, -1, events.Filter{})
	defer stop()

	publishN(t, b, 100) // would deadlock if a publisher waited for ch

	var got []int64
	for e := range ch {
		got = append(got, e.Seq)
	}
	if len(got) == 0 || len(got) >= 100 {
		t.Fatalf("dropped subscriber got %d events before its channel closed, want between 1 and 99", len(got))
	}
	ch2, stop2 := b.Subscribe(ctx, got[len(got)-1], events.Filter{})
	defer stop2()
	got = append(got, seqs(recv(t, ch2, 100-len(got)))...)
	want := make([]int64, 100)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seqs across the drop (-want +got):\n%s", diff)
	}
}

// TestConcurrentPublishersAndResumingSubscribers runs publishers and
// subscribers at once; subscribers join at random points, read slowly enough
// to be dropped now and then, and resume. Each must see every sequence
// number after its start exactly once, in order.
func TestConcurrentPublishersAndResumingSubscribers(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, openStore(t), &events.Options{Buffer: 8, Retain: 1 << 20})
	const publishers, each, subscribers = 4, 150, 6
	const total = publishers * each

	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			for i := range each {
				if _, err := b.Publish(ctx, events.Event{Type: events.ExecStarted, SandboxID: fmt.Sprintf("p%d-%d", p, i)}); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}

	var subs sync.WaitGroup
	for n := range subscribers {
		subs.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			start := int64(rng.IntN(total / 2))
			last, resumes := start, 0
			for last < total {
				ch, stop := b.Subscribe(ctx, last, events.Filter{})
				for e := range ch {
					if e.Seq != last+1 {
						t.Errorf("subscriber %d: got seq %d after %d", n, e.Seq, last)
						stop()
						return
					}
					last = e.Seq
					if last == total {
						break
					}
					if r := rng.IntN(100); r == 0 {
						break // leave and resume on purpose
					} else if r < 3 {
						// Fall behind, to be dropped now and then.
						time.Sleep(time.Millisecond)
					}
				}
				stop()
				resumes++
			}
			t.Logf("subscriber %d: from %d to %d with %d subscriptions", n, start, last, resumes)
		})
	}
	pubs.Wait()
	subs.Wait()
}

// TestRetention checks that trimming keeps the newest events and that a
// replay from before them starts at the oldest kept.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	b := newBus(t, s, &events.Options{Retain: 10, TrimEvery: 1 << 30})
	publishN(t, b, 50)
	if err := b.Trim(ctx); err != nil {
		t.Fatalf("Trim: %v", err)
	}
	kept, err := s.EventsSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(kept); len(got) != 10 || got[0] != 41 || got[9] != 50 {
		t.Errorf("kept seqs = %v, want 41..50", got)
	}
	ch, stop := b.Subscribe(ctx, 0, events.Filter{})
	defer stop()
	if e := <-ch; e.Seq != 41 {
		t.Errorf("first replayed seq = %d, want 41", e.Seq)
	}
	// Numbering carries on past trimmed events.
	e, err := b.Publish(ctx, events.Event{Type: events.PluginEnabled})
	if err != nil || e.Seq != 51 {
		t.Errorf("Publish after trim = seq %d, %v; want 51", e.Seq, err)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	ctx := context.Background()
	b := newBus(t, openStore(t), nil)
	publishN(t, b, 3)
	live, stopLive := b.Subscribe(ctx, -1, events.Filter{})
	defer stopLive()
	replaying, stopReplay := b.Subscribe(ctx, 0, events.Filter{}) // never read
	defer stopReplay()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range live {
	}
	for range replaying {
	}
	after, stop := b.Subscribe(ctx, 0, events.Filter{})
	stop()
	if _, ok := <-after; ok {
		t.Error("Subscribe after Close delivered an event")
	}
}

func TestStopByContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := newBus(t, openStore(t), nil)
	ch, stop := b.Subscribe(ctx, -1, events.Filter{})
	defer stop()
	cancel()
	for range ch {
	}
}

func TestFilterMatch(t *testing.T) {
	e := events.Event{Type: events.SandboxRunning, SandboxID: "sb1"}
	tests := []struct {
		name   string
		filter events.Filter
		want   bool
	}{
		{"empty", events.Filter{}, true},
		{"type", events.Filter{Types: []string{events.SandboxRunning}}, true},
		{"other type", events.Filter{Types: []string{events.SandboxPaused}}, false},
		{"prefix", events.Filter{Types: []string{"sandbox.*"}}, true},
		{"other prefix", events.Filter{Types: []string{"plugin.*"}}, false},
		{"sandbox", events.Filter{SandboxID: "sb1"}, true},
		{"other sandbox", events.Filter{SandboxID: "sb2", Types: []string{"sandbox.*"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(e); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkPublish measures persisted publishes with two live subscribers.
func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	bus := newBus(b, openStore(b), nil)
	for range 2 {
		ch, stop := bus.Subscribe(ctx, -1, events.Filter{})
		b.Cleanup(stop)
		go func() {
			for range ch {
			}
		}()
	}
	data := []byte(`{"exit_code":0}`)
	for b.Loop() {
		if _, err := bus.Publish(ctx, events.Event{Type: events.ExecFinished, SandboxID: "sb1", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
