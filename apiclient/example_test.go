package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/volant-sh/volant/apiclient"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// A Go program creates a sandbox, runs a command in it and tells the
// engine's error classes apart with errors.Is.
func Example() {
	c, err := apiclient.New(apiclient.Options{BaseURL: "http://127.0.0.1:7777", Token: "vol_..."})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	sb, err := c.CreateSandbox(ctx, sandbox.Spec{Labels: map[string]string{"team": "a"}})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: []string{"uname", "-a"}})
	switch {
	case errors.Is(err, errdefs.ErrConflict):
		// The sandbox is not running; the engine says what to call next.
		for _, r := range errdefs.Remedies(err) {
			fmt.Println("next:", r.Op, r.Args)
		}
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Print(res.Stdout)
	}
}
