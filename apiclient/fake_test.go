package apiclient_test

// This file is the tests' only tie to a fake engine: newTestAPI serves
// the real rest handler over the shared fake engine (sandbox/sandboxfake),
// whose sandboxes run kestrel's real exec, file, port and terminal
// handlers on this host.

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/auth/authtest"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/plugins/pluginstest"
	"github.com/volant-sh/volant/rest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxfake"
)

// testAPI is a served API and what the tests may inspect of it.
type testAPI struct {
	c   *apiclient.Client
	url string
	// events are what GET /v1/events serves; each subscription gets
	// the events after its sequence number and then ends.
	events []events.Event
}

// newTestAPI serves rest.New over the shared fake engine (sandboxes sb1,
// sb2, ...; a console of three lines; actions that echo their call), the
// plugin test registry and a fixed event list, and returns a client with
// an admin token.
func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	eng := sandboxfake.New(t)
	eng.IDPrefix = "sb"
	eng.Console = []byte("boot 1\nboot 2\nlogin:\n")
	eng.Info = &sandbox.SystemInfo{Version: "test", Driver: "qemu", Accel: "kvm"}
	eng.OnAction = func(_ context.Context, id, plugin, action string, input json.RawMessage) (json.RawMessage, error) {
		return json.Marshal(map[string]any{"sandbox": id, "plugin": plugin, "action": action, "input": input})
	}
	a := auth.New(authtest.NewStore(), nil)
	tok, _, err := a.Create(context.Background(), "admin", auth.CreateOptions{Scope: auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tapi := &testAPI{}
	for i := 1; i <= 3; i++ {
		tapi.events = append(tapi.events, events.Event{Seq: int64(i), Type: events.SandboxCreated, SandboxID: "sb" + strconv.Itoa(i),
			Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	srv := httptest.NewServer(rest.New(rest.Options{
		Manager: eng, Auth: a, Plugins: pluginstest.New(), Events: fixedEvents(tapi.events),
	}))
	t.Cleanup(srv.Close)
	c, err := apiclient.New(apiclient.Options{BaseURL: srv.URL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	tapi.c, tapi.url = c, srv.URL
	return tapi
}

// fixedEvents serves its events after the subscriber's sequence number,
// then ends the subscription as a server does with a slow client.
type fixedEvents []events.Event

func (f fixedEvents) Subscribe(ctx context.Context, from int64, filter events.Filter) (<-chan events.Event, func()) {
	ch := make(chan events.Event, len(f))
	for _, e := range f {
		if e.Seq > from {
			ch <- e
		}
	}
	close(ch)
	return ch, func() {}
}
