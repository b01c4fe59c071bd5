package mcp

import (
	"context"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// TestGuest drives a real sandbox.Manager (QEMU guest) through the MCP
// tools. sandboxtest skips it when guests cannot boot here.
func TestGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping guest boots")
	}
	env := sandboxtest.New(t, nil)
	var progress []string
	_, cs := connect(t, env.Manager, nil, &sdk.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *sdk.ProgressNotificationClientRequest) {
			progress = append(progress, req.Params.Message)
		},
	})
	id := ok[map[string]any](t, cs, "sandbox_create", map[string]any{})["id"].(string)

	t.Run("exec", func(t *testing.T) {
		out := ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "echo hi; echo err >&2; exit 2"}})
		if out.ExitCode != 2 || out.Stdout != "hi\n" || out.Stderr != "err\n" {
			t.Errorf("exec = %+v", out)
		}
	})
	t.Run("progress", func(t *testing.T) {
		params := &sdk.CallToolParams{Name: "sandbox_exec", Arguments: map[string]any{"sandbox_id": id,
			"cmd": []string{"sh", "-c", "for i in 1 2 3; do echo step $i; sleep 0.3; done"}}}
		params.SetProgressToken("p")
		res, err := cs.CallTool(context.Background(), params)
		if err != nil || res.IsError {
			t.Fatalf("exec: %v %s", err, resultText(res))
		}
		if len(progress) == 0 || progress[len(progress)-1] != "step 3" {
			t.Errorf("progress %q, want the last to be step 3", progress)
		}
	})
	t.Run("cancel kills the guest process", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "sandbox_exec", Arguments: map[string]any{"sandbox_id": id,
				"cmd": []string{"sh", "-c", "echo $$ > /tmp/long.pid; exec sleep 1000"}}})
			done <- err
		}()
		var pid string
		for pid == "" {
			pid = strings.TrimSpace(ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "cat /tmp/long.pid 2>/dev/null || true"}}).Stdout)
		}
		cancel()
		if err := <-done; err == nil {
			t.Fatal("cancelled call returned no error")
		}
		for {
			out := ok[ExecOutput](t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"sh", "-c", "kill -0 " + pid + " 2>/dev/null && echo alive || echo gone"}})
			if strings.TrimSpace(out.Stdout) == "gone" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("files", func(t *testing.T) {
		ok[map[string]any](t, cs, "file_write", map[string]any{"sandbox_id": id, "path": "/tmp/mcp/a.txt", "content": "héllo\n"})
		if rd := ok[FileReadOutput](t, cs, "file_read", map[string]any{"sandbox_id": id, "path": "/tmp/mcp/a.txt"}); rd.Content != "héllo\n" {
			t.Errorf("file_read = %+v", rd)
		}
		ok[RemoveOutput](t, cs, "file_remove", map[string]any{"sandbox_id": id, "path": "/tmp/mcp", "recursive": true})
	})
	t.Run("pause and resume", func(t *testing.T) {
		ok[map[string]any](t, cs, "sandbox_pause", map[string]any{"sandbox_id": id})
		res := call(t, cs, "sandbox_exec", map[string]any{"sandbox_id": id, "cmd": []string{"true"}})
		if msg := resultText(res); !res.IsError || !strings.Contains(msg, "sandbox_resume") || strings.Contains(msg, "/v1/") {
			t.Errorf("exec while paused: %q, want an error naming sandbox_resume", msg)
		}
		ok[map[string]any](t, cs, "sandbox_resume", map[string]any{"sandbox_id": id})
	})
	ok[DeleteOutput](t, cs, "sandbox_delete", map[string]any{"sandbox_id": id})
	if res := call(t, cs, "sandbox_get", map[string]any{"sandbox_id": id}); !res.IsError {
		t.Errorf("sandbox_get after delete succeeded")
	}
}

// BenchmarkToolCallExecTrueGuest is BenchmarkToolCallExecTrue against a
// real guest.
func BenchmarkToolCallExecTrueGuest(b *testing.B) {
	env := sandboxtest.New(b, nil)
	_, cs := connect(b, env.Manager, nil, nil)
	id := ok[map[string]any](b, cs, "sandbox_create", map[string]any{})["id"].(string)
	args := map[string]any{"sandbox_id": id, "cmd": []string{"true"}}
	for b.Loop() {
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "sandbox_exec", Arguments: args})
		if err != nil || res.IsError {
			b.Fatalf("exec: %v %v", err, res)
		}
	}
}
