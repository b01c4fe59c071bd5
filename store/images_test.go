package store_test

import (
	"context"
	"testing"

	"github.com/volant-sh/volant/store"
)

func TestSandboxImage(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, sb := range []store.Sandbox{
		{ID: "sb1", ImageRef: "python:3.12-slim", ImageDigest: "sha256:aa"},
		{ID: "sb2", ImageRef: "python@sha256:aa", ImageDigest: "sha256:aa"},
		{ID: "sb3", ImageRef: "debian", ImageDigest: "sha256:bb"},
		{ID: "sb4"},
	} {
		if _, err := s.CreateSandbox(ctx, sb); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetSandbox(ctx, "sb1")
	if err != nil || got.ImageRef != "python:3.12-slim" || got.ImageDigest != "sha256:aa" {
		t.Errorf("GetSandbox: image %q %q, %v", got.ImageRef, got.ImageDigest, err)
	}
	got.ImageDigest = "sha256:bb"
	if _, err := s.UpdateSandbox(ctx, got); err != nil {
		t.Fatal(err)
	}
	for digest, want := range map[string]int{"sha256:aa": 1, "sha256:bb": 2, "sha256:cc": 0, "": 0} {
		n, err := s.CountSandboxesByImage(ctx, digest)
		if err != nil || n != want {
			t.Errorf("CountSandboxesByImage(%q) = %d, %v; want %d", digest, n, err, want)
		}
	}
}
