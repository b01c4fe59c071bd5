package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestImagePullRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  ImagePullRequest
		want string // "" means valid
	}{
		{"ref", ImagePullRequest{Ref: "python:3.12-slim"}, ""},
		{"ref with key", ImagePullRequest{Ref: "ghcr.io/o/a@sha256:" + strings.Repeat("a", 64), PublicKey: "PEM"}, ""},
		{"path", ImagePullRequest{Path: "/srv/images/app.tar", Name: "app:dev"}, ""},
		{"nothing", ImagePullRequest{}, "say which image"},
		{"both", ImagePullRequest{Ref: "a", Path: "/b"}, "not both"},
		{"relative path", ImagePullRequest{Path: "app.tar"}, "absolute"},
		{"name on a pull", ImagePullRequest{Ref: "a", Name: "b"}, "name is for imports"},
		{"key on an import", ImagePullRequest{Path: "/a", PublicKey: "k"}, "public_key is for pulls"},
		{"long ref", ImagePullRequest{Ref: strings.Repeat("a", 600)}, "at most 512"},
		{"bad name", ImagePullRequest{Path: "/a", Name: "my app"}, "no spaces"},
		{"built-in name", ImagePullRequest{Path: "/a", Name: "debian"}, "built-in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an invalid-argument error saying %q", err, tt.want)
			}
		})
	}
}
