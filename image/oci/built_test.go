package oci

import "testing"

func TestIsBuilt(t *testing.T) {
	for ref, want := range map[string]bool{
		"debian": true, "debian-3ca1cf3fd4a07eb1": true,
		"debian-3ca1": false, "debian:12": false, "python:3.12-slim": false, "debian-3CA1CF3FD4A07EB1": false,
	} {
		if got := IsBuilt(ref); got != want {
			t.Errorf("IsBuilt(%q) = %v, want %v", ref, got, want)
		}
	}
}
