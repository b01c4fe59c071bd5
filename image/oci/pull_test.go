package oci

import (
	"errors"
	"net/http"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	tests := []struct {
		url     string
		refused bool
	}{
		{"http://127.0.0.1:5000/v2/", false},
		{"http://localhost:5000/v2/", false},
		{"http://[::1]:5000/v2/", false},
		{"http://10.0.0.5:5000/v2/", true},
		{"http://registry.local/v2/", true},
		{"http://192.168.1.2/v2/", true},
	}
	g := guardTransport{base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", tt.url, nil)
		_, err := g.RoundTrip(req)
		if refused := errors.Is(err, errdefs.ErrInvalidArgument); refused != tt.refused {
			t.Errorf("%s: err %v, want refused %v", tt.url, err, tt.refused)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestParseRef(t *testing.T) {
	for _, tt := range []struct{ ref, want string }{
		{"python:3.12-slim", "index.docker.io/library/python:3.12-slim"},
		{"ghcr.io/o/a:v1", "ghcr.io/o/a:v1"},
		{"127.0.0.1:5000/a:v1", "127.0.0.1:5000/a:v1"},
	} {
		r, err := parseRef(tt.ref)
		if err != nil || r.Name() != tt.want {
			t.Errorf("parseRef(%q) = %v, %v; want %s", tt.ref, r, err, tt.want)
		}
	}
	if _, err := parseRef("UPPER/case:x y"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("a bad reference: %v", err)
	}
}
