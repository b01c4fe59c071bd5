package qmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExecuteWithFile passes a file's descriptor over a unix socket, as
// getfd takes it, and the server end reads the same file through it.
func TestExecuteWithFile(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			got <- err.Error()
			return
		}
		defer conn.Close()
		conn.Write([]byte(greeting + "\n"))
		r := bufio.NewReader(conn)
		r.ReadBytes('\n') // qmp_capabilities
		conn.Write([]byte(`{"return": {}}` + "\n"))
		buf, oob := make([]byte, 512), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- err.Error()
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			got <- "no descriptor came"
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		f := os.NewFile(uintptr(fds[0]), "passed")
		data := make([]byte, 64)
		m, _ := f.ReadAt(data, 0)
		f.Close()
		conn.Write([]byte(`{"return": {}, "id": "1"}` + "\n"))
		got <- string(bytes.TrimSpace(buf[:n])) + " | " + string(data[:m])
	}()
	c, err := Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	path := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(path, []byte("device state"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := c.ExecuteWithFile(context.Background(), "getfd", map[string]any{"fdname": "s"}, nil, f); err != nil {
		t.Fatal(err)
	}
	s := <-got
	if !strings.Contains(s, `"execute":"getfd"`) || !strings.HasSuffix(s, "| device state") {
		t.Fatalf("the server got %q", s)
	}
}

func TestExecuteWithFileNeedsAUnixSocket(t *testing.T) {
	_, cli := startFake(t, func(string, json.RawMessage, json.RawMessage) []string { return nil })
	c, err := New(context.Background(), cli)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.ExecuteWithFile(context.Background(), "getfd", nil, nil, os.Stdin); err == nil || !strings.Contains(err.Error(), "unix socket") {
		t.Fatalf("err = %v", err)
	}
}
