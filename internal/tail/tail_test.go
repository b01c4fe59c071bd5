package tail

import "testing"

func TestLines(t *testing.T) {
	in := []byte("a\nb\nc\n")
	for n, want := range map[int]string{0: "a\nb\nc\n", 1: "c\n", 2: "b\nc\n", 5: "a\nb\nc\n"} {
		if got := string(Lines(in, n)); got != want {
			t.Errorf("Lines(%d) = %q, want %q", n, got, want)
		}
	}
}
