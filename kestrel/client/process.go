package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// StartProcess starts a command that outlives the call (POST /v1/processes).
// Its stdin stays open for WriteProcessStdin; its output is kept in a ring
// of MaxOutputBytes. A command that is not found is an ErrNotFound error.
func (c *Client) StartProcess(ctx context.Context, req ExecRequest) (*ProcessInfo, error) {
	req.Stream = false
	var info ProcessInfo
	if err := c.DoJSON(ctx, http.MethodPost, "/v1/processes", nil, req, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Processes lists the processes the agent remembers, oldest first.
func (c *Client) Processes(ctx context.Context) ([]ProcessInfo, error) {
	var list []ProcessInfo
	if err := c.DoJSON(ctx, http.MethodGet, "/v1/processes", nil, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// Process returns one process's status.
func (c *Client) Process(ctx context.Context, id string) (*ProcessInfo, error) {
	var info ProcessInfo
	if err := c.DoJSON(ctx, http.MethodGet, "/v1/processes/"+url.PathEscape(id), nil, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// ReadProcessOutput returns the output produced since offset (0 for all
// that is still kept). With wait > 0 and nothing new, the agent waits up to
// wait for output or the process's end. Pass NextOffset to the next call.
func (c *Client) ReadProcessOutput(ctx context.Context, id string, offset int64, wait time.Duration) (*ProcessOutput, error) {
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	if wait > 0 {
		q.Set("wait_ms", strconv.FormatInt(wait.Milliseconds(), 10))
	}
	var out ProcessOutput
	if err := c.DoJSON(ctx, http.MethodGet, "/v1/processes/"+url.PathEscape(id)+"/output", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WriteProcessStdin writes data to the process's stdin and closes it
// afterwards when closeStdin is set.
func (c *Client) WriteProcessStdin(ctx context.Context, id string, data io.Reader, closeStdin bool) error {
	var q url.Values
	if closeStdin {
		q = url.Values{"close": {"true"}}
	}
	if data == nil {
		data = http.NoBody
	}
	return c.DoJSON(ctx, http.MethodPost, "/v1/processes/"+url.PathEscape(id)+"/stdin", q, data, nil)
}

// SignalProcess sends a signal ("TERM", "INT", "9") to the process's group.
func (c *Client) SignalProcess(ctx context.Context, id, signal string) error {
	return c.DoJSON(ctx, http.MethodPost, "/v1/processes/"+url.PathEscape(id)+"/signal", nil, SignalRequest{Signal: signal}, nil)
}

// DeleteProcess kills the process's group if it still runs, waits for it
// to end and makes the agent forget it. It returns the final status.
func (c *Client) DeleteProcess(ctx context.Context, id string) (*ProcessInfo, error) {
	var info ProcessInfo
	if err := c.DoJSON(ctx, http.MethodDelete, "/v1/processes/"+url.PathEscape(id), nil, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}
