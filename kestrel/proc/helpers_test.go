package proc_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/client/clienttest"
	"github.com/volant-sh/volant/kestrel/proc"
	"github.com/volant-sh/volant/kestrel/reaper"
)

// newClient serves a proc.Service in-process and returns a client.
func newClient(t *testing.T) *client.Client {
	t.Helper()
	r := reaper.New(false)
	svc := proc.New(proc.Config{Reaper: r})
	t.Cleanup(func() { svc.Close(); r.Close() })
	mux := http.NewServeMux()
	svc.Register(mux)
	return clienttest.Serve(t, mux).Client
}

func isNotFound(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == "not_found"
}

func asErr(err error, target **client.Error) bool { return errors.As(err, target) }
