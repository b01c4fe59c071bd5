// Package proctest watches process groups through /proc, for the tests of
// the agent's services that start and kill process trees.
package proctest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wait is how long the Wait functions poll before failing the test: killed
// processes take a moment to finish exiting after their pipes close.
const wait = 30 * time.Second

// LiveInGroup lists the pids of processes in group pgid that are not zombies.
func LiveInGroup(tb testing.TB, pgid int) []int {
	tb.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	var live []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			live = append(live, pid)
		}
	}
	return live
}

// WaitGroupLive waits until group pgid has at least n live processes.
func WaitGroupLive(tb testing.TB, pgid, n int) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for len(LiveInGroup(tb, pgid)) < n {
		if time.Now().After(deadline) {
			tb.Fatalf("group %d has %v live, want %d", pgid, LiveInGroup(tb, pgid), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitGroupGone waits until no live process is left in group pgid, and
// fails only when something is still alive after a long while.
func WaitGroupGone(tb testing.TB, pgid int) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for {
		live := LiveInGroup(tb, pgid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("processes %v of group %d survived", live, pgid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
