package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/store"
)

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "volant.db"))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newBus(t testing.TB, log events.Log, opts *events.Options) *events.Bus {
	t.Helper()
	b, err := events.New(context.Background(), log, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func publishN(t testing.TB, b *events.Bus, n int) {
	t.Helper()
	for i := range n {
		if _, err := b.Publish(context.Background(), events.Event{Type: events.SandboxCreated, SandboxID: fmt.Sprint("sb", i)}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
}

// recv reads n events from ch.
func recv(t *testing.T, ch <-chan events.Event, n int) []events.Event {
	t.Helper()
	var got []events.Event
	for range n {
		e, ok := <-ch
		if !ok {
			t.Fatalf("channel closed after %d of %d events", len(got), n)
		}
		got = append(got, e)
	}
	return got
}

func seqs(evs []events.Event) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func TestPublishPersists(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	b := newBus(t, s, nil)
	e, err := b.Publish(ctx, events.Event{Type: events.ExecFinished, SandboxID: "sb1", Data: json.RawMessage(`{"exit":0}`)})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if e.Seq != 1 || e.Time.IsZero() {
		t.Errorf("Publish = seq %d time %v; want seq 1 and a time", e.Seq, e.Time)
	}
	stored, err := s.EventsSince(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]events.Event{e}, stored); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}

	for _, bad := range []events.Event{{}, {Type: "x", Data: json.RawMessage(`{`)}} {
		if _, err := b.Publish(ctx, bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Publish(%+v) error = %v, want ErrInvalidArgument", bad, err)
		}
	}

	// A new Bus over the same log carries on numbering.
	b.Close()
	if _, err := b.Publish(ctx, events.Event{Type: "x"}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Publish after Close error = %v, want ErrUnavailable", err)
	}
	b2 := newBus(t, s, nil)
	e2, err := b2.Publish(ctx, events.Event{Type: events.SandboxDeleted})
	if err != nil || e2.Seq != 2 {
		t.Errorf("Publish on a new bus = seq %d, %v; want 2", e2.Seq, err)
	}
}

func TestSubscribeReplaysThenStreams(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		from    int64
		filter  events.Filter
		publish int
		want    []int64
	}{
		{"from start", 0, events.Filter{}, 2, []int64{1, 2, 3, 4, 5, 6, 7}},
		{"from middle", 3, events.Filter{}, 2, []int64{4, 5, 6, 7}},
		{"live only", -1, events.Filter{}, 2, []int64{6, 7}},
		{"by sandbox", 0, events.Filter{SandboxID: "sb1"}, 2, []int64{2, 7}},
		{"by type", 0, events.Filter{Types: []string{"plugin.*"}}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBus(t, openStore(t), nil)
			publishN(t, b, 5)
			ch, stop := b.Subscribe(ctx, tt.from, tt.filter)
			defer stop()
			publishN(t, b, tt.publish)
			got := seqs(recv(t, ch, len(tt.want)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("seqs (-want +got):\n%s", diff)
			}
			stop()
			if _, ok := <-ch; ok {
				t.Error("channel still open after stop")
			}
		})
	}
}
