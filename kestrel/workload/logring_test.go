package workload

import (
	"bytes"
	"testing"
)

func TestLogRing(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		tail   int
		want   string
	}{
		{"empty", nil, 0, ""},
		{"under the limit", []string{"ab", "cd"}, 0, "abcd"},
		{"tail", []string{"ab", "cd"}, 3, "bcd"},
		{"tail beyond", []string{"ab"}, 10, "ab"},
		{"oldest dropped", []string{"abc", "def"}, 0, "cdef"},
		{"one big write", []string{"abcdefgh"}, 0, "efgh"},
		{"big write after small", []string{"xy", "abcdef"}, 0, "cdef"},
		{"exactly full", []string{"ab", "cd", "ef"}, 0, "cdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogRing(4)
			for _, w := range tt.writes {
				if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := string(l.tail(tt.tail)); got != tt.want {
				t.Errorf("tail(%d) = %q, want %q", tt.tail, got, tt.want)
			}
		})
	}
}

func TestLogRingKeepsLast64KiB(t *testing.T) {
	l := newLogRing(logSize)
	data := bytes.Repeat([]byte("0123456789abcdef"), logSize/16*3)
	for p := data; len(p) > 0; p = p[min(1000, len(p)):] {
		l.Write(p[:min(1000, len(p))])
	}
	if got := l.tail(0); !bytes.Equal(got, data[len(data)-logSize:]) {
		t.Errorf("kept %d bytes, not the last %d written", len(got), logSize)
	}
}

// TestLogRingPrevious: the previous run's output is what was written
// between the last two marks, as much as the ring still keeps.
func TestLogRingPrevious(t *testing.T) {
	tests := []struct {
		name  string
		steps []string // "|" marks a run's start
		want  string
		ok    bool
	}{
		{"no run", nil, "", false},
		{"one run", []string{"|", "ab"}, "", false},
		{"two runs", []string{"|", "ab", "|", "cd"}, "ab", true},
		{"three runs", []string{"|", "a", "|", "bc", "|", "d"}, "bc", true},
		{"previous run silent", []string{"|", "ab", "|", "|", "c"}, "", true},
		{"partly dropped", []string{"|", "abcdef", "|", "gh"}, "ef", true},
		{"all dropped", []string{"|", "ab", "|", "cdefgh"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLogRing(4)
			for _, s := range tt.steps {
				if s == "|" {
					l.mark()
					continue
				}
				_, _ = l.Write([]byte(s))
			}
			got, ok := l.previous()
			if string(got) != tt.want || ok != tt.ok {
				t.Errorf("previous() = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
