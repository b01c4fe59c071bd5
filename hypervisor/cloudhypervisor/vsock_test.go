package cloudhypervisor

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/files"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/system"
)

// hybridServer is the host side of a hybrid vsock socket: answer says
// what to do with the nth connection's CONNECT line, then a connection
// that got "OK" is spliced to upstream.
type hybridServer struct {
	sock  string
	count atomic.Int32
}

func startHybrid(t *testing.T, upstream string, answer func(n int, line string) (reply string, ok bool)) *hybridServer {
	t.Helper()
	sock := filepath.Join(shortDir(t), "vsock.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &hybridServer{sock: sock}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(s.count.Add(1))
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				reply, ok := answer(n, strings.TrimSuffix(line, "\n"))
				if reply != "" {
					io.WriteString(c, reply)
				}
				if !ok {
					return
				}
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return s
}

// agentUpstream serves kestrel's real system, file and process handlers.
func agentUpstream(t *testing.T) string {
	t.Helper()
	r := reaper.New(false)
	svc := proc.New(proc.Config{Reaper: r})
	t.Cleanup(func() { svc.Close(); r.Close() })
	mux := http.NewServeMux()
	system.New(system.Config{Version: "test"}).Register(mux)
	files.Register(mux)
	svc.Register(mux)
	return clienttest.Serve(t, mux).Addr
}

// okFor answers a CONNECT to the agent's port as Cloud Hypervisor does.
func okFor(_ int, line string) (string, bool) {
	if line != "CONNECT 1024" {
		return "", false
	}
	return "OK 1073741825\n", true
}

func TestHybridVsockServesTheAgent(t *testing.T) {
	s := startHybrid(t, agentUpstream(t), okFor)
	c := client.New(func(ctx context.Context) (net.Conn, error) { return dialHybridVsock(ctx, s.sock, client.VsockPort) })
	t.Cleanup(c.CloseIdle)
	ctx := testContext(t)
	if _, err := c.WaitReady(ctx); err != nil {
		t.Fatalf("health through hybrid vsock: %v", err)
	}
	res, err := c.Exec(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "echo through vsock"}, TimeoutMS: 30000}, nil)
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != "through vsock" {
		t.Errorf("exec through hybrid vsock: got %+v, %v", res, err)
	}
	p := filepath.Join(t.TempDir(), "f")
	if _, err := c.WriteFile(ctx, p, strings.NewReader("file through vsock"), client.WriteOptions{}); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if b, err := c.ReadFileAll(ctx, p, 1<<20); err != nil || string(b) != "file through vsock" {
		t.Errorf("ReadFileAll: got %q, %v", b, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "file through vsock" {
		t.Errorf("file on disk: %q", b)
	}
}

func TestHybridVsockRetriesWhileTheGuestBoots(t *testing.T) {
	// The first connections are refused (the VMM closes them: nobody
	// listens in the guest yet), then the agent is there.
	s := startHybrid(t, agentUpstream(t), func(n int, line string) (string, bool) {
		if n <= 3 {
			return "", false
		}
		return okFor(n, line)
	})
	c := client.New(func(ctx context.Context) (net.Conn, error) { return dialHybridVsock(ctx, s.sock, client.VsockPort) })
	t.Cleanup(c.CloseIdle)
	if _, err := c.WaitReady(testContext(t)); err != nil {
		t.Fatalf("health after refusals: %v", err)
	}
	if n := s.count.Load(); n < 4 {
		t.Errorf("connections: got %d, want at least 4 (3 refused, then OK)", n)
	}
}

func TestHybridVsockBadHandshakes(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  string
	}{
		{"refused", "", "refused"},
		{"not OK", "ERR no listener\n", `malformed handshake answer "ERR no listener"`},
		{"OK without a port", "OK\n", "malformed handshake answer"},
		{"OK with a bad port", "OK port\n", `"port" is not a port`},
		{"no newline", "OK 12", "without a newline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startHybrid(t, "127.0.0.1:1", func(int, string) (string, bool) { return tt.reply, false })
			// A refusal is retried until the context ends; the rest fail at once.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := dialHybridVsock(ctx, s.sock, client.VsockPort)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if tt.reply != "" && s.count.Load() != 1 {
				t.Errorf("a malformed answer was retried: %d connections", s.count.Load())
			}
		})
	}
	t.Run("no socket", func(t *testing.T) {
		// Long enough for one attempt to finish however busy the machine is.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := dialHybridVsock(ctx, filepath.Join(t.TempDir(), "none"), client.VsockPort)
		if err == nil || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("got %v, want the missing socket named", err)
		}
	})
}
