package workload_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/workload"
)

// serveEnv switches the test binary into a tiny HTTP server listening on
// the variable's address, so tests can run a real workload that needs
// nothing installed. Its /healthz answers 503 to the first notReadyTries
// requests, then 200.
const serveEnv = "WORKLOAD_TEST_SERVE"

const notReadyTries = 3

func TestMain(m *testing.M) {
	if addr := os.Getenv(serveEnv); addr != "" {
		serveHTTP(addr)
		return
	}
	os.Exit(m.Run())
}

func serveHTTP(addr string) {
	var tries atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if tries.Add(1) <= notReadyTries {
			fmt.Println("healthz 503")
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	fmt.Println("test server listening on", addr)
	fmt.Fprintln(os.Stderr, "test server stderr line")
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// serverSpec is a workload running the test binary as an HTTP server on
// a free port.
func serverSpec(t *testing.T) client.WorkloadSpec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	return client.WorkloadSpec{
		Command: []string{exe},
		Env:     map[string]string{serveEnv: "127.0.0.1:" + strconv.Itoa(port)},
		Port:    port,
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newService returns a Service on its own reaper; the test's cleanup
// closes both.
func newService(t *testing.T) *workload.Service {
	t.Helper()
	r := reaper.New(false)
	svc, err := workload.New(workload.Config{Reaper: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(); r.Close() })
	return svc
}

// serve serves svc in-process and returns a client.
func serve(t *testing.T, svc *workload.Service) *client.Client {
	t.Helper()
	mux := http.NewServeMux()
	svc.Register(mux)
	return clienttest.Serve(t, mux).Client
}

// newClient serves a new Service and returns a client.
func newClient(t *testing.T) *client.Client {
	t.Helper()
	return serve(t, newService(t))
}

// waitFor polls the workload's status until ok holds, and fails the test
// only after a long while.
func waitFor(t *testing.T, c *client.Client, name, what string, ok func(client.WorkloadStatus) bool) client.WorkloadStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Workload(context.Background(), name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ok(*st) {
			return *st
		}
		if time.Now().After(deadline) {
			t.Fatalf("workload %s: gave up waiting for %s; last status %+v", name, what, *st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLogs polls the workload's logs until they hold want.
func waitLogs(t *testing.T, c *client.Client, name, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		logs, err := c.WorkloadLogs(context.Background(), name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(logs), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workload %s: logs %q never held %q", name, logs, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// agentError returns err's *client.Error, failing the test without one.
func agentError(t *testing.T, err error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want a *client.Error", err)
	}
	return e
}
