package proc_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/internal/proctest"
)

func TestExec(t *testing.T) {
	c := newClient(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		req  client.ExecRequest
		want client.ExecResult
	}{
		{
			name: "echo",
			req:  client.ExecRequest{Argv: []string{"/bin/echo", "hello", "world"}},
			want: client.ExecResult{Stdout: []byte("hello world\n")},
		},
		{
			name: "path lookup",
			req:  client.ExecRequest{Argv: []string{"echo", "hi"}},
			want: client.ExecResult{Stdout: []byte("hi\n")},
		},
		{
			name: "env and cwd",
			req:  client.ExecRequest{Argv: []string{"sh", "-c", `echo "$FOO $TERM $(pwd)"`}, Env: []string{"FOO=bar"}, Cwd: dir},
			want: client.ExecResult{Stdout: []byte("bar xterm " + dir + "\n")},
		},
		{
			name: "env overrides default",
			req:  client.ExecRequest{Argv: []string{"sh", "-c", `echo $TERM`}, Env: []string{"TERM=dumb"}},
			want: client.ExecResult{Stdout: []byte("dumb\n")},
		},
		{
			name: "stdin",
			req:  client.ExecRequest{Argv: []string{"cat"}, Stdin: []byte("from stdin\x00\xff")},
			want: client.ExecResult{Stdout: []byte("from stdin\x00\xff")},
		},
		{
			name: "exit code and stderr",
			req:  client.ExecRequest{Argv: []string{"sh", "-c", "echo oops >&2; exit 7"}},
			want: client.ExecResult{ExitCode: 7, Stderr: []byte("oops\n")},
		},
		{
			name: "killed by signal",
			req:  client.ExecRequest{Argv: []string{"sh", "-c", "kill -TERM $$"}},
			want: client.ExecResult{ExitCode: 128 + 15, Signal: "TERM"},
		},
		{
			name: "command not found",
			req:  client.ExecRequest{Argv: []string{"no-such-command-xyz"}},
			want: client.ExecResult{ExitCode: 127, Error: "no-such-command-xyz: command not found in PATH " + "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
		{
			name: "not executable",
			req:  client.ExecRequest{Argv: []string{"/etc/passwd"}},
			want: client.ExecResult{ExitCode: 126, Error: "/etc/passwd: permission denied (not executable)"},
		},
		{
			name: "output cap",
			req:  client.ExecRequest{Argv: []string{"sh", "-c", "printf 0123456789; printf abcdefghij >&2"}, MaxOutputBytes: 4},
			want: client.ExecResult{Stdout: []byte("0123"), Stderr: []byte("abcd"), StdoutTruncated: true, StderrTruncated: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Exec(context.Background(), tt.req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(client.ExecResult{}, "DurationMS"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExecInvalid(t *testing.T) {
	c := newClient(t)
	for _, req := range []client.ExecRequest{
		{},
		{Argv: []string{"true"}, Env: []string{"NOEQUALS"}},
		{Argv: []string{"true"}, User: "no-such-user-xyz"},
		// A cwd that is not there is said so, not a bare exit 126.
		{Argv: []string{"true"}, Cwd: "/no/such/dir"},
		{Argv: []string{"true"}, Cwd: "/etc/passwd"},
	} {
		_, err := c.Exec(context.Background(), req, nil)
		var e *client.Error
		if !asErr(err, &e) || e.Code != "invalid" {
			t.Errorf("Exec(%+v) error = %v, want an invalid error", req, err)
		}
		if req.Cwd != "" && (e == nil || !strings.Contains(e.Message, "cwd "+req.Cwd)) {
			t.Errorf("Exec(%+v) error = %v, want it to name the cwd", req, err)
		}
	}
}

func TestExecStreamsInOrder(t *testing.T) {
	c := newClient(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The command waits on the fifo after its first line, so the second
	// line can only come after the test saw the first one streamed.
	script := `echo first; read x < "$0"; echo second >&2; echo third`
	type frame struct{ Stream, Data string }
	var got []frame
	res, err := c.Exec(context.Background(), client.ExecRequest{Argv: []string{"sh", "-c", script, fifo}}, func(stream string, data []byte) {
		got = append(got, frame{stream, string(data)})
		if string(data) == "first\n" {
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.WriteString("go\n")
			f.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []frame{{"stdout", "first\n"}, {"stderr", "second\n"}, {"stdout", "third\n"}}
	// stderr and stdout after the fifo race each other; check stdout order
	// and that the first frame came before the fifo was opened.
	if diff := cmp.Diff(want[0], got[0]); diff != "" {
		t.Errorf("first frame (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b frame) bool { return a.Stream+a.Data < b.Stream+b.Data })); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
	if res.ExitCode != 0 || len(res.Stdout) != 0 {
		t.Errorf("result = %+v, want exit 0 and no buffered output", res)
	}
}

func TestExecTimeoutKillsGroup(t *testing.T) {
	c := newClient(t)
	res, err := c.Exec(context.Background(), client.ExecRequest{
		Argv:      []string{"sh", "-c", "echo $$; sleep 100 & sleep 100"},
		TimeoutMS: 300,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Signal != "KILL" {
		t.Errorf("result = %+v, want timed out and killed", res)
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
	if err != nil {
		t.Fatalf("stdout %q: %v", res.Stdout, err)
	}
	proctest.WaitGroupGone(t, pgid)
}

func TestExecCancelKillsGroup(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pidc := make(chan int, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, client.ExecRequest{Argv: []string{"sh", "-c", "echo $$; sleep 100 & sleep 100"}}, func(_ string, data []byte) {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				pidc <- pid
			}
		})
		errc <- err
	}()
	pgid := <-pidc
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("Exec after cancel returned no error")
	}
	// The agent notices the closed connection and kills the group.
	proctest.WaitGroupGone(t, pgid)
}

func TestExecConcurrent(t *testing.T) {
	c := newClient(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := strconv.Itoa(i)
			res, err := c.Exec(context.Background(), client.ExecRequest{Argv: []string{"echo", want}}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if got := strings.TrimSpace(string(res.Stdout)); got != want || res.ExitCode != 0 {
				t.Errorf("exec %d: stdout %q exit %d", i, got, res.ExitCode)
			}
		}()
	}
	wg.Wait()
}
