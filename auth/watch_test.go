package auth_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/auth"
)

// TestRevokeEndsStreams: an SSE stream and a long request opened with a
// token end when the token is revoked; another token's stream goes on.
func TestRevokeEndsStreams(t *testing.T) {
	a, _ := newAuth(t)
	ctx := context.Background()
	tok, rec, _ := a.Create(ctx, "victim", auth.CreateOptions{})
	other, _, _ := a.Create(ctx, "other", auth.CreateOptions{})
	ended := make(chan string, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		if auth.Ended(r.Context()) {
			ended <- "events:" + r.Header.Get("X-Who")
		}
	})
	mux.HandleFunc("POST /v1/sandboxes/{id}/exec", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // the headers: the client knows the call started
		<-r.Context().Done()
		ended <- "exec:" + context.Cause(r.Context()).Error()
	})
	srv := httptest.NewServer(a.Authorize(mux))
	t.Cleanup(srv.Close)

	open := func(method, path, token, who string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Who", who)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	stream := open("GET", "/v1/events", tok, "victim")
	line, err := bufio.NewReader(stream.Body).ReadString('\n')
	if err != nil || line != "data: hello\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	keep := open("GET", "/v1/events", other, "other")
	long := open("POST", "/v1/sandboxes/sb1/exec", tok, "victim")
	if long.StatusCode != http.StatusOK {
		t.Fatalf("exec: %d", long.StatusCode)
	}

	if err := a.Revoke(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 2 {
		got[<-ended] = true
	}
	if !got["events:victim"] || !got["exec:"+revokedMessage] {
		t.Errorf("ended: %v", got)
	}
	// The streams' bodies end for the clients too.
	_, _ = io.ReadAll(stream.Body) // returns: the stream is over
	select {
	case e := <-ended:
		t.Errorf("%s ended too", e)
	default:
	}
	keep.Body.Close()
}

// revokedMessage is why a revoked token's requests end.
var revokedMessage = "the token was revoked; send \"Authorization: Bearer <token>\": the admin token is in STATE_DIR/token (read it on the host), " +
	"and \"volar token create <name>\" issues more"

// TestExpiryEndsRequests: a request's context ends at its token's expiry.
func TestExpiryEndsRequests(t *testing.T) {
	a, _ := newAuth(t)
	tok, _, err := a.Create(context.Background(), "short", auth.CreateOptions{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := a.Check(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := a.Watch(context.Background(), rec)
	defer stop()
	<-ctx.Done() // no deadline asserted: only that it ends, and why
	if !auth.Ended(ctx) || !strings.Contains(context.Cause(ctx).Error(), "expired") {
		t.Errorf("cause = %v", context.Cause(ctx))
	}
}
