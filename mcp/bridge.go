package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Streamable HTTP header names.
const (
	hdrSession  = "Mcp-Session-Id"
	hdrProtocol = "Mcp-Protocol-Version"
)

// maxMessage bounds one JSON-RPC message read from stdin.
const maxMessage = 16 << 20

// BridgeStdio relays newline-delimited JSON-RPC messages between an MCP
// client on in/out and a daemon's streamable HTTP endpoint at url, so that
// `volantd mcp` can reuse a daemon that already owns the state directory
// instead of starting a second engine. Each message from in is POSTed (with
// token as a bearer token when not empty); JSON and SSE answers are written
// to out, one message a line. After initialization a standalone GET stream
// carries the server's own notifications (list_changed, resource updates).
// It returns nil when in ends, and ends the HTTP session.
//
// The relay is raw: messages pass through unchanged, so progress,
// cancellation and any future protocol feature work as they do over HTTP.
// The go-sdk's StreamableClientTransport is not used because a raw relay
// cannot tell it about the session's initialization, without which it
// opens no standalone stream and sends no protocol version header.
func BridgeStdio(ctx context.Context, in io.Reader, out io.Writer, hc *http.Client, url, token string) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &bridge{ctx: ctx, hc: hc, url: url, token: token, out: out}
	defer func() {
		// Answers to what was sent still reach out; then the
		// notification stream stops and the session ends.
		b.wg.Wait()
		cancel()
		b.lwg.Wait()
		b.endSession()
	}()

	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := readLine(r)
		if len(bytes.TrimSpace(line)) > 0 {
			b.relay(line)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxMessage {
			return nil, fmt.Errorf("message longer than %d bytes", maxMessage)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

type bridge struct {
	ctx   context.Context
	hc    *http.Client
	url   string
	token string
	wg    sync.WaitGroup // posts in flight
	lwg   sync.WaitGroup // the standalone stream

	outMu sync.Mutex
	out   io.Writer

	mu         sync.Mutex
	session    string
	protocol   string
	listening  bool
	initCallID string // id of the initialize call, to spot its answer
}

// envelope is what the bridge reads of a message.
type envelope struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Result *struct {
		ProtocolVersion string `json:"protocolVersion"`
	} `json:"result,omitempty"`
}

func (b *bridge) relay(line []byte) {
	msg := bytes.TrimSpace(line)
	var env envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		b.write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error: ` + jsonEscape(err.Error()) + `"}}`))
		return
	}
	if env.Method == "initialize" {
		// Everything after initialize needs its session id: relay it
		// before reading on.
		b.mu.Lock()
		b.initCallID = string(env.ID)
		b.mu.Unlock()
		b.post(msg, env)
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.post(msg, env)
		if env.Method == "notifications/initialized" {
			b.startListening()
		}
	}()
}

func (b *bridge) headers(h http.Header) {
	if b.token != "" {
		h.Set("Authorization", "Bearer "+b.token)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.session != "" {
		h.Set(hdrSession, b.session)
	}
	if b.protocol != "" {
		h.Set(hdrProtocol, b.protocol)
	}
}

// post sends one message and relays what answers it.
func (b *bridge) post(msg []byte, env envelope) {
	isCall := env.Method != "" && len(env.ID) > 0 && string(env.ID) != "null"
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.url, bytes.NewReader(msg))
	if err != nil {
		b.fail(env, isCall, err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	b.headers(req.Header)
	resp, err := b.hc.Do(req)
	if err != nil {
		if b.ctx.Err() == nil {
			b.fail(env, isCall, "cannot reach volantd: "+err.Error())
		}
		return
	}
	defer resp.Body.Close()
	if sid := resp.Header.Get(hdrSession); sid != "" {
		b.mu.Lock()
		if b.session == "" {
			b.session = sid
		}
		b.mu.Unlock()
	}
	ctype := resp.Header.Get("Content-Type")
	switch {
	case resp.StatusCode/100 != 2:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if strings.HasPrefix(ctype, "application/json") && json.Valid(body) {
			b.write(body)
			return
		}
		b.fail(env, isCall, fmt.Sprintf("volantd answered %s: %s", resp.Status, strings.TrimSpace(string(body))))
	case strings.HasPrefix(ctype, "text/event-stream"):
		b.readEvents(resp.Body)
	case strings.HasPrefix(ctype, "application/json"):
		body, err := io.ReadAll(resp.Body)
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			b.write(body)
		}
	}
}

// startListening opens the standalone GET stream once, for server
// notifications outside any request.
func (b *bridge) startListening() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.listening {
		return
	}
	b.listening = true
	b.lwg.Add(1)
	go func() {
		defer b.lwg.Done()
		b.listen()
	}()
}

// listen relays the standalone stream and re-opens it while the bridge
// runs.
func (b *bridge) listen() {
	for b.ctx.Err() == nil {
		req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url, nil)
		if err != nil {
			return
		}
		req.Header.Set("Accept", "text/event-stream")
		b.headers(req.Header)
		resp, err := b.hc.Do(req)
		if err == nil {
			if resp.StatusCode/100 != 2 {
				// 405: no stream offered; 404: the session is gone.
				resp.Body.Close()
				return
			}
			b.readEvents(resp.Body)
			resp.Body.Close()
		}
		select {
		case <-b.ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// readEvents relays the data of each server-sent event.
func (b *bridge) readEvents(body io.Reader) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxMessage)
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				b.write(data)
				data = data[:0]
			}
		case bytes.HasPrefix(line, []byte("data:")):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		}
	}
	if len(data) > 0 {
		b.write(data)
	}
}

// write sends one message to out, noting the negotiated protocol version
// when it is the answer to initialize.
func (b *bridge) write(msg []byte) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, msg); err != nil {
		return
	}
	var env envelope
	if json.Unmarshal(compact.Bytes(), &env) == nil && env.Result != nil && env.Result.ProtocolVersion != "" {
		b.mu.Lock()
		if b.initCallID != "" && string(env.ID) == b.initCallID {
			b.protocol = env.Result.ProtocolVersion
		}
		b.mu.Unlock()
	}
	compact.WriteByte('\n')
	b.outMu.Lock()
	defer b.outMu.Unlock()
	_, _ = b.out.Write(compact.Bytes())
}

// fail answers a call the daemon could not answer with a JSON-RPC error.
func (b *bridge) fail(env envelope, isCall bool, msg string) {
	if !isCall {
		return
	}
	b.write([]byte(`{"jsonrpc":"2.0","id":` + string(env.ID) + `,"error":{"code":-32603,"message":"` + jsonEscape(msg) + `"}}`))
}

// endSession asks the daemon to drop the session (best effort).
func (b *bridge) endSession() {
	b.mu.Lock()
	sid := b.session
	b.mu.Unlock()
	if sid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, b.url, nil)
	if err != nil {
		return
	}
	b.headers(req.Header)
	if resp, err := b.hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

func jsonEscape(s string) string {
	q, _ := json.Marshal(s)
	return string(q[1 : len(q)-1])
}
