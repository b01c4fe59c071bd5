package proc_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
)

// newClient serves a proc.Service in-process and returns a client.
func newClient(t *testing.T) *client.Client {
	t.Helper()
	r := reaper.New(false)
	svc := proc.New(proc.Config{Reaper: r})
	t.Cleanup(func() { svc.Close(); r.Close() })
	mux := http.NewServeMux()
	svc.Register(mux)
	return clienttest.Serve(t, mux).Client
}

// liveInGroup lists the pids of processes in group pgid that are not zombies.
func liveInGroup(t *testing.T, pgid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
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

func isNotFound(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == "not_found"
}

func asErr(err error, target **client.Error) bool { return errors.As(err, target) }

// waitABit yields briefly while polling for a state change.
func waitABit() { time.Sleep(20 * time.Millisecond) }

// waitGroupGone waits until no live process is left in group pgid. Killed
// processes take a moment to finish exiting after their pipes close, so this
// polls, and fails only when something is still alive after a long while.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		live := liveInGroup(t, pgid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of group %d survived", live, pgid)
		}
		waitABit()
	}
}
