package sandbox

import (
	"os"
	"testing"
)

func TestParsePSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"rollup", "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:   40960 kB\nPss:   35840 kB\nPss_Anon: 1 kB\n", 35840, false},
		{"no pss", "Rss: 1 kB\n", 0, true},
		{"bad value", "Pss: x kB\n", 0, true},
		{"empty value", "Pss:\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePSS([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parsePSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReadPSSSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no smaps_rollup on this kernel")
	}
	var c pssCache
	got := c.measure([]int{os.Getpid(), -1})
	if got[os.Getpid()] <= 0 {
		t.Fatalf("PSS of this process = %d KiB; want > 0", got[os.Getpid()])
	}
	if _, ok := got[-1]; ok {
		t.Fatalf("a pid that does not exist was measured")
	}
}
