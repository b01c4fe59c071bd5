package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// TestHibernateWakesOnPTYAndPort: a terminal session and a port tunnel
// each wake a hibernated sandbox (one guest for both), which has its
// files and its running processes as they were: the terminal reads the
// file and finds the process, the tunnel reaches the web server that was
// serving when the sandbox hibernated.
func TestHibernateWakesOnPTYAndPort(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest")
	}
	env := sandboxtest.New(t, nil)
	ctx := context.Background()
	m := env.Manager
	sb, err := m.Create(ctx, sandbox.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	execOut(t, m, sb.ID, "sh", "-c", "mkdir -p /root/www && echo kept > /root/www/index.html")
	g, err := m.Guest(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	httpd, err := g.StartProcess(ctx, sandbox.ExecRequest{Cmd: []string{"httpd", "-f", "-p", "8080", "-h", "/root/www"}})
	if err != nil {
		t.Fatal(err)
	}

	hibernate(t, m, sb.ID)
	g, err = m.Guest(ctx, sb.ID) // what the PTY route does first
	if err != nil {
		t.Fatalf("guest of a hibernated sandbox: %v", err)
	}
	sess, err := g.PTY(ctx, sandbox.PTYRequest{ExecRequest: sandbox.ExecRequest{
		Cmd: []string{"sh", "-c", fmt.Sprintf("cat /root/www/index.html; kill -0 %d && echo alive; echo DONE", httpd.PID)}}})
	if err != nil {
		t.Fatalf("pty after hibernate: %v", err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "DONE") {
		n, err := sess.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	sess.Close()
	if s := out.String(); !strings.Contains(s, "kept") || !strings.Contains(s, "alive") {
		t.Fatalf("pty after hibernate printed %q; want the file and the process as they were", s)
	}

	hibernate(t, m, sb.ID)
	g, err = m.Guest(ctx, sb.ID) // what the port routes do first
	if err != nil {
		t.Fatalf("guest of a hibernated sandbox: %v", err)
	}
	conn, err := g.DialPort(ctx, 8080)
	if err != nil {
		t.Fatalf("port tunnel after hibernate: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(conn, "GET /index.html HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(conn)
	if err != nil || !strings.Contains(string(resp), "kept") {
		t.Fatalf("the web server after hibernate answered %q, %v; want the page it served before", resp, err)
	}
}

// TestHibernateWakesOnAction: a plugin action wakes a hibernated sandbox
// of the plugin's runtime; its workload (started before the hibernation,
// not again after) answers it, and its files are there.
func TestHibernateWakesOnAction(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest")
	}
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{"echo": echoPlugin(t)}}
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Plugins = fp })
	m := env.Manager
	ctx := context.Background()
	sb, err := m.Create(ctx, sandbox.Spec{Runtime: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	execOut(t, m, sb.ID, "sh", "-c", "echo kept > /root/f")
	hibernate(t, m, sb.ID)
	out, err := m.Action(ctx, sb.ID, "echo", "say", json.RawMessage(`{"msg":"hi"}`))
	if err != nil {
		t.Fatalf("action on a hibernated sandbox: %v", err)
	}
	var got struct{ Body map[string]any }
	if err := json.Unmarshal(out.Body, &got); err != nil || got.Body["msg"] != "hi" {
		t.Fatalf("action answer %s (%v); want the workload's echo", out.Body, err)
	}
	if got := execOut(t, m, sb.ID, "cat", "/root/f"); got != "kept" {
		t.Fatalf("file after the wake reads %q", got)
	}
}
