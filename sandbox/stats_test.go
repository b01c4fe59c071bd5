package sandbox

import (
	"os"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	line := "4242 (qemu system (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 5 0 123 1000000 300 18446744073709551615 0 0 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"
	cpu, rss, err := parseProcStat([]byte(line), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 3 || rss != 300*4096 {
		t.Errorf("cpu %v rss %d, want 3s and %d", cpu, rss, 300*4096)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 x S"} {
		if _, _, err := parseProcStat([]byte(bad), 4096); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// This process's own line parses.
	if _, rss, err := readProcStat(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("own stat: rss %d, %v", rss, err)
	}
}
