package qemu

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/volant-sh/volant/kestrel/client"
)

// askQuiesce reports a coming quiesce mark only when the agent's answer
// announces one: an older agent's answer (no header) must not make the
// host wait for a mark that never comes.
func TestAskQuiesceSeesTheMarkHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header bool
	}{{"agent that marks", true}, {"older agent", false}} {
		t.Run(tc.name, func(t *testing.T) {
			hostEnd, guestEnd := net.Pipe()
			cfg := yamux.DefaultConfig()
			cfg.EnableKeepAlive = false
			cfg.LogOutput = io.Discard
			guest, err := yamux.Server(guestEnd, cfg)
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/quiesce" {
					http.NotFound(w, r)
					return
				}
				if tc.header {
					w.Header().Set(client.QuiesceMarkHeader, "1")
				}
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusOK)
			})}
			go srv.Serve(guest)
			defer srv.Close()
			host, err := yamux.Client(hostEnd, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			marked, err := askQuiesce(ctx, host)
			if err != nil {
				t.Fatal(err)
			}
			if marked != tc.header {
				t.Errorf("marked = %v, want %v", marked, tc.header)
			}
		})
	}
}
