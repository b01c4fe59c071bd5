package apiclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

func init() {
	for r, m := range map[string]string{
		"PUT /v1/sandboxes/{id}/workloads/{name}":      "StartWorkload",
		"GET /v1/sandboxes/{id}/workloads/{name}":      "Workload",
		"DELETE /v1/sandboxes/{id}/workloads/{name}":   "StopWorkload",
		"GET /v1/sandboxes/{id}/workloads":             "Workloads",
		"GET /v1/sandboxes/{id}/workloads/{name}/logs": "WorkloadLogs",
		"GET /v1/sandboxes/{id}/tcp/{port}":            "DialTCP",
		"GET /v1/sandboxes/{id}/stats":                 "SandboxStats",
	} {
		covered[r] = m
	}
}

// TestDialTCP carries raw bytes both ways through the tunnel, and a
// missing sandbox is refused with its class.
func TestDialTCP(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()
	if _, err := c.CreateSandbox(ctx, sandbox.Spec{}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
	conn, err := c.DialTCP(ctx, "sb1", l.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := "not http at all\x00\x01\n"
	if _, err := conn.Write([]byte(want)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("echo through the tunnel = %q, want %q", got, want)
	}
	if _, err := c.DialTCP(ctx, "nope", 80); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("tunnel to a missing sandbox: %v; want ErrNotFound", err)
	}
}

// TestWorkloadsNotImplemented: an engine without workloads answers 501 on
// every workload route (the real engine's are tested with real guests in
// kubelet/).
func TestWorkloadsNotImplemented(t *testing.T) {
	api := newTestAPI(t)
	c, ctx := api.c, context.Background()
	if _, err := c.CreateSandbox(ctx, sandbox.Spec{}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		var ae *apiclient.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented {
			t.Errorf("%s: %v; want a 501", what, err)
		}
	}
	_, err := c.StartWorkload(ctx, "sb1", "pod", sandbox.WorkloadSpec{Command: []string{"sleep", "1"}})
	check("start", err)
	_, err = c.Workload(ctx, "sb1", "pod", 0)
	check("get", err)
	_, err = c.Workloads(ctx, "sb1")
	check("list", err)
	_, err = c.WorkloadLogs(ctx, "sb1", "pod", 0)
	check("logs", err)
	check("stop", c.StopWorkload(ctx, "sb1", "pod"))
}
