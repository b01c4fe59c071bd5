package proc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/proctest"
)

// waitDone reads output from offset until the process ends.
func waitDone(t *testing.T, c *client.Client, id string) (stdout, stderr string, exit *client.ExecResult) {
	t.Helper()
	var off int64
	for {
		out, err := c.ReadProcessOutput(context.Background(), id, off, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		stdout += string(out.Stdout())
		stderr += string(out.Stderr())
		off = out.NextOffset
		if out.Done {
			return stdout, stderr, out.Exit
		}
	}
}

func TestProcessStdinAndOutput(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	info, err := c.StartProcess(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "cat; echo done >&2"}, Stdin: []byte("one ")})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Running || info.PID == 0 || info.ID == "" {
		t.Fatalf("StartProcess = %+v, want a running process", info)
	}
	if err := c.WriteProcessStdin(ctx, info.ID, strings.NewReader("two"), true); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, exit := waitDone(t, c, info.ID)
	if stdout != "one two" || stderr != "done\n" || exit == nil || exit.ExitCode != 0 {
		t.Errorf("got stdout %q stderr %q exit %+v, want \"one two\", \"done\\n\", 0", stdout, stderr, exit)
	}
	if err := c.WriteProcessStdin(ctx, info.ID, strings.NewReader("late"), false); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("write after close: error = %v, want ErrConflict", err)
	}
	list, err := c.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != info.ID || list[0].Running {
		t.Errorf("Processes = %+v, want the one ended process", list)
	}
	if _, err := c.DeleteProcess(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Process(ctx, info.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Process after delete: error = %v, want ErrNotFound", err)
	}
}

func TestProcessSignalAndDelete(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	info, err := c.StartProcess(ctx, client.ExecRequest{Argv: []string{"sleep", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SignalProcess(ctx, info.ID, "TERM"); err != nil {
		t.Fatal(err)
	}
	_, _, exit := waitDone(t, c, info.ID)
	if exit == nil || exit.Signal != "TERM" {
		t.Errorf("exit = %+v, want killed by TERM", exit)
	}
	if err := c.SignalProcess(ctx, info.ID, "BOGUS"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bogus signal: error = %v, want ErrInvalidArgument", err)
	}

	info, err = c.StartProcess(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "sleep 100 & sleep 100"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DeleteProcess(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Running || got.Exit == nil || got.Exit.Signal != "KILL" {
		t.Errorf("DeleteProcess = %+v, want ended by KILL", got)
	}
	proctest.WaitGroupGone(t, info.PID)
	if _, err := c.StartProcess(ctx, client.ExecRequest{Argv: []string{"no-such-command-xyz"}}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("start unknown command: error = %v, want ErrNotFound", err)
	}
}

func TestProcessOutputRing(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	info, err := c.StartProcess(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "printf 0123456789; printf abc"}, MaxOutputBytes: 8})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, c, info.ID)
	out, err := c.ReadProcessOutput(ctx, info.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &client.ProcessOutput{
		Offset: 5, NextOffset: 13, Dropped: 5, Truncated: true, Done: true,
		Chunks: []client.OutputChunk{{Stream: "stdout", Data: []byte("56789abc")}},
	}
	out.Exit = nil
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	out, err = c.ReadProcessOutput(ctx, info.ID, 11, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out.Stdout()); got != "bc" || out.Offset != 11 {
		t.Errorf("from offset 11: stdout %q offset %d, want \"bc\" 11", got, out.Offset)
	}
}
