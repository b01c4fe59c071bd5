package ports_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/ports"
)

// newAgent serves the port routes on a loopback listener and returns a
// real agent client and the listener's address.
func newAgent(t *testing.T) (*client.Client, string) {
	t.Helper()
	mux := http.NewServeMux()
	ports.Register(mux)
	srv := clienttest.Serve(t, mux)
	return srv.Client, srv.Addr
}

// listen starts a TCP server on loopback that runs handle for each
// connection, and returns its port.
func listen(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			handle(conn)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}

func TestTunnelHTTP(t *testing.T) {
	c, _ := newAgent(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.DialPort(ctx, port) },
	}}
	t.Cleanup(hc.CloseIdleConnections)
	for _, path := range []string{"/a", "/b", "/c"} {
		resp, err := hc.Get("http://sandbox" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "hello from "+path {
			t.Errorf("GET %s = %q, %v; want %q", path, body, err, "hello from "+path)
		}
	}
}

// echoUntilEOF reads the whole stream, then sends it back and closes: it
// works only if the tunnel passes the client's half-close on.
func echoUntilEOF(conn net.Conn) {
	go func() {
		defer conn.Close()
		data, err := io.ReadAll(conn)
		if err != nil {
			return
		}
		_, _ = conn.Write(data)
	}()
}

func TestTunnelHalfClose(t *testing.T) {
	c, _ := newAgent(t)
	port := listen(t, echoUntilEOF)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("ping")},
		{"large", bytes.Repeat([]byte("0123456789abcdef"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := c.DialPort(context.Background(), port)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cw, ok := conn.(interface{ CloseWrite() error })
			if !ok {
				t.Fatalf("tunnel %T cannot half-close", conn)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := conn.Write(tt.data)
				if err == nil {
					err = cw.CloseWrite()
				}
				errc <- err
			}()
			got, err := io.ReadAll(conn)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("echo = %d bytes, want %d", len(got), len(tt.data))
			}
		})
	}
}

// TestTunnelServerSpeaksFirst covers a greeting sent by the guest server
// before the client writes anything.
func TestTunnelServerSpeaksFirst(t *testing.T) {
	c, _ := newAgent(t)
	port := listen(t, func(conn net.Conn) {
		_, _ = conn.Write([]byte("220 ready\r\n"))
		conn.Close()
	})
	conn, err := c.DialPort(context.Background(), port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != "220 ready\r\n" {
		t.Errorf("read %q, %v; want the greeting", got, err)
	}
}

// TestTunnelBytesWithRequest sends tunnel bytes in the same write as the
// upgrade request, so the agent finds them already buffered.
func TestTunnelBytesWithRequest(t *testing.T) {
	_, addr := newAgent(t)
	port := listen(t, echoUntilEOF)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := fmt.Sprintf("GET /v1/ports/%d/connect HTTP/1.1\r\nHost: agent\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly bytes", port)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "tcp" {
		t.Fatalf("answer %s upgrade %q, want 101 tcp", resp.Status, resp.Header.Get("Upgrade"))
	}
	got, err := io.ReadAll(br)
	if err != nil || string(got) != "early bytes" {
		t.Errorf("echo = %q, %v; want %q", got, err, "early bytes")
	}
}

func TestTunnelErrors(t *testing.T) {
	c, _ := newAgent(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	_, err = c.DialPort(context.Background(), free)
	wantAgentError(t, err, http.StatusBadGateway, fmt.Sprintf("nothing listens on port %d in the sandbox", free))

	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		substr string
	}{
		{"port zero", "/v1/ports/0/connect", upgradeTCP(), http.StatusBadRequest, "1 to 65535"},
		{"port too big", "/v1/ports/65536/connect", upgradeTCP(), http.StatusBadRequest, "1 to 65535"},
		{"not a number", "/v1/ports/http/connect", upgradeTCP(), http.StatusBadRequest, "1 to 65535"},
		{"no upgrade", fmt.Sprintf("/v1/ports/%d/connect", free), nil, http.StatusUpgradeRequired, "Upgrade: tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, client.BaseURL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := c.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.substr) {
				t.Errorf("GET %s = %d %s, want %d containing %q", tt.path, resp.StatusCode, body, tt.status, tt.substr)
			}
		})
	}
}

func upgradeTCP() http.Header {
	return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"tcp"}}
}

func wantAgentError(t *testing.T, err error, status int, substr string) {
	t.Helper()
	var ae *client.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want an agent error with status %d", err, err, status)
	}
	if ae.Status != status || !strings.Contains(ae.Message, substr) {
		t.Fatalf("error = %d %q, want %d containing %q", ae.Status, ae.Message, status, substr)
	}
}

func TestTunnelWebSocket(t *testing.T) {
	c, _ := newAgent(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		typ, msg, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		_ = ws.Write(r.Context(), typ, append([]byte("echo: "), msg...))
		ws.Close(websocket.StatusNormalClosure, "")
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.DialPort(ctx, port) },
	}}
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws://sandbox/", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, got, err := ws.Read(ctx)
	if err != nil || string(got) != "echo: hi" {
		t.Errorf("read %q, %v; want %q", got, err, "echo: hi")
	}
}
