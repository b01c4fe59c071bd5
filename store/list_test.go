package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/store"
)

// seed creates n sandboxes sb000.. one second apart; even ones run the
// "python" runtime and are "running", odd ones "node" and "stopped"; every
// third carries team=a.
func seed(t testing.TB, s *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		sb := store.Sandbox{ID: fmt.Sprintf("sb%04d", i), CreatedAt: base.Add(time.Duration(i) * time.Second),
			Runtime: "node", State: "stopped", Labels: map[string]string{"i": fmt.Sprint(i)}}
		if i%2 == 0 {
			sb.Runtime, sb.State = "python", "running"
		}
		if i%3 == 0 {
			sb.Labels["team"] = "a"
		}
		if _, err := s.CreateSandbox(ctx, sb); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(sbs []store.Sandbox) []string {
	var out []string
	for _, sb := range sbs {
		out = append(out, sb.ID)
	}
	return out
}

func TestListSandboxesFilters(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	seed(t, s, 12)
	tests := []struct {
		name   string
		filter store.SandboxFilter
		want   []string
	}{
		{"states", store.SandboxFilter{States: []string{"running"}}, []string{"sb0000", "sb0002", "sb0004", "sb0006", "sb0008", "sb0010"}},
		{"two states", store.SandboxFilter{States: []string{"running", "stopped"}, Limit: 3}, []string{"sb0000", "sb0001", "sb0002"}},
		{"runtime", store.SandboxFilter{Runtime: "node", Limit: 2}, []string{"sb0001", "sb0003"}},
		{"label", store.SandboxFilter{Labels: map[string]string{"team": "a"}}, []string{"sb0000", "sb0003", "sb0006", "sb0009"}},
		{"labels and runtime", store.SandboxFilter{Runtime: "python", Labels: map[string]string{"team": "a", "i": "6"}}, []string{"sb0006"}},
		{"none", store.SandboxFilter{Labels: map[string]string{"team": "b"}}, nil},
		{"after plain id", store.SandboxFilter{After: "sb0009"}, []string{"sb0010", "sb0011"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := s.ListSandboxes(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListSandboxes: %v", err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	if _, _, err := s.ListSandboxes(ctx, store.SandboxFilter{After: "nope"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("unknown cursor error = %v, want ErrInvalidArgument", err)
	}
}

// TestListSandboxesPages walks all pages, deleting the sandbox each cursor
// names on the way: cursors must survive that.
func TestListSandboxesPages(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	seed(t, s, 25)
	var got []string
	f := store.SandboxFilter{Limit: 7}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, next, err := s.ListSandboxes(ctx, f)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		got = append(got, ids(page)...)
		if next == "" {
			break
		}
		if err := s.DeleteSandbox(ctx, page[len(page)-1].ID); err != nil {
			t.Fatal(err)
		}
		f.After = next
	}
	var want []string
	for i := range 25 {
		want = append(want, fmt.Sprintf("sb%04d", i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ids over all pages (-want +got):\n%s", diff)
	}
}

// BenchmarkListSandboxes lists 1,000 sandboxes with labels.
func BenchmarkListSandboxes(b *testing.B) {
	ctx := context.Background()
	s := open(b)
	seed(b, s, 1000)
	for _, bc := range []struct {
		name   string
		filter store.SandboxFilter
		want   int
	}{
		{"page of 100", store.SandboxFilter{Limit: 100, After: "sb0500"}, 100},
		{"all 1000", store.SandboxFilter{}, 1000},
		{"label filter page of 100", store.SandboxFilter{Limit: 100, Labels: map[string]string{"team": "a"}}, 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				got, _, err := s.ListSandboxes(ctx, bc.filter)
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != bc.want {
					b.Fatalf("got %d sandboxes, want %d", len(got), bc.want)
				}
			}
		})
	}
}
