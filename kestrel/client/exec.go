package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Exec runs a command to completion. With onOutput nil the answer holds the
// buffered output (capped by MaxOutputBytes); otherwise output is streamed
// to onOutput (stream is StreamStdout or StreamStderr) as the guest produces
// it, and the result holds none. Ending ctx closes the connection, and the
// agent then kills the command's process group. A command that cannot be
// started is not an error: its result has ExitCode 127 or 126 and Error set.
func (c *Client) Exec(ctx context.Context, req ExecRequest, onOutput func(stream string, data []byte)) (*ExecResult, error) {
	req.Stream = onOutput != nil
	if !req.Stream {
		var res ExecResult
		if err := c.DoJSON(ctx, http.MethodPost, "/v1/exec", nil, req, &res); err != nil {
			return nil, err
		}
		return &res, nil
	}
	resp, err := c.Do(ctx, http.MethodPost, "/v1/exec", nil, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var f OutputFrame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return nil, fmt.Errorf("decoding exec output frame: %w", err)
		}
		if f.Exit != nil {
			return f.Exit, nil
		}
		if len(f.Data) > 0 {
			onOutput(f.Stream, f.Data)
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("exec %s: %w", req.Argv[0], ctx.Err())
		}
		return nil, fmt.Errorf("reading exec output: %w", err)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("exec %s: %w", req.Argv[0], ctx.Err())
	}
	return nil, fmt.Errorf("exec output ended without an exit frame")
}
