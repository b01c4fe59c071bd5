package client_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
)

// FuzzDecoders: whatever an agent answers (status and body), the client's
// decoders of exec frames, JSON answers and errors return a value or an
// error, never a panic.
func FuzzDecoders(f *testing.F) {
	f.Add(200, []byte(`{"stream":"stdout","data":"aGk="}`+"\n"+`{"exit":{"exit_code":0}}`+"\n"))
	f.Add(200, []byte(`{"id":"p1","argv":["sleep"],"running":true}`))
	f.Add(404, []byte(`{"message":"no such process","code":"not_found"}`))
	f.Add(500, []byte("plain text"))
	f.Add(200, []byte(`{"exit":null}`+"\n"+`{"data":"!!"}`))
	var mu sync.Mutex
	var status int
	var body []byte
	srv := clienttest.Serve(f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, b := status, body
		mu.Unlock()
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(st)
		_, _ = w.Write(b)
	}))
	c := srv.Client
	f.Fuzz(func(t *testing.T, st int, b []byte) {
		if st < 200 || st > 599 {
			st = 200 + (st%400+400)%400
		}
		mu.Lock()
		status, body = st, b
		mu.Unlock()
		ctx := context.Background()
		_, _ = c.Exec(ctx, client.ExecRequest{Argv: []string{"x"}}, func(string, []byte) {})
		_, _ = c.Exec(ctx, client.ExecRequest{Argv: []string{"x"}}, nil)
		_, _ = c.Process(ctx, "p1")
		_, _ = c.Processes(ctx)
	})
}
