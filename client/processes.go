package client

// Background processes and keep-alive (docs/api.md §12.2, §12.4).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ProcessRequest starts a background process: Command is a shell string
// or an argv list.
type ProcessRequest struct {
	Command any               `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	Cwd     string            `json:"cwd,omitempty"`
	Stdin   *string           `json:"stdin,omitempty"`
	Timeout float64           `json:"timeout,omitempty"`
}

// Process is a background process's state.
type Process struct {
	ProcessID   string   `json:"process_id"`
	PID         *int     `json:"pid"`
	Command     []string `json:"command"`
	Cwd         string   `json:"cwd"`
	Running     bool     `json:"running"`
	ExitCode    *int     `json:"exit_code"`
	Signal      *string  `json:"signal"`
	TimedOut    bool     `json:"timed_out"`
	Lost        bool     `json:"lost"`
	StartedAt   string   `json:"started_at"`
	EndedAt     *string  `json:"ended_at"`
	OutputLimit int64    `json:"output_limit"`
	Timeout     float64  `json:"timeout"`
}

// ProcessOutput is a read of a process's output.
type ProcessOutput struct {
	ProcessID  string   `json:"process_id"`
	Offset     int64    `json:"offset"`
	NextOffset int64    `json:"next_offset"`
	Dropped    int64    `json:"dropped"`
	Running    bool     `json:"running"`
	Output     string   `json:"output"`
	Chunks     []Output `json:"chunks"`
}

func procPath(id, pid string) string {
	return "/sandbox/" + url.PathEscape(id) + "/processes/" + url.PathEscape(pid)
}

// StartProcess starts a background process and returns at once.
func (c *Client) StartProcess(ctx context.Context, id string, req ProcessRequest) (*Process, error) {
	var p Process
	return &p, c.call(ctx, http.MethodPost, "/sandbox/"+url.PathEscape(id)+"/processes", nil, req, &p)
}

// Processes lists a sandbox's background processes, oldest first.
func (c *Client) Processes(ctx context.Context, id string) ([]Process, error) {
	var out struct {
		Processes []Process `json:"processes"`
	}
	return out.Processes, c.call(ctx, http.MethodGet, "/sandbox/"+url.PathEscape(id)+"/processes", nil, nil, &out)
}

// GetProcess inspects one.
func (c *Client) GetProcess(ctx context.Context, id, pid string) (*Process, error) {
	var p Process
	return &p, c.call(ctx, http.MethodGet, procPath(id, pid), nil, nil, &p)
}

// ReadOutput reads at most limit bytes (0: the server's default) of a
// process's output from offset.
func (c *Client) ReadOutput(ctx context.Context, id, pid string, offset, limit int64) (*ProcessOutput, error) {
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.FormatInt(limit, 10))
	}
	var o ProcessOutput
	return &o, c.call(ctx, http.MethodGet, procPath(id, pid)+"/output", q, nil, &o)
}

// FollowOutput streams a process's output from offset to onOutput until it
// ends (or ctx is done) and returns the process as it ended.
func (c *Client) FollowOutput(ctx context.Context, id, pid string, offset int64, onOutput func(Output)) (*Process, error) {
	resp, err := c.Do(ctx, http.MethodGet, procPath(id, pid)+"/output", url.Values{"offset": {strconv.FormatInt(offset, 10)}, "stream": {"true"}}, nil, "")
	if err != nil {
		return nil, err
	}
	var end Process
	got, err := finalEvent(resp, "exit", onOutput, &end)
	if err != nil {
		return nil, err
	}
	if !got {
		if err = ctx.Err(); err == nil {
			err = fmt.Errorf("output stream ended before the process: %w", io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return &end, nil
}

// WriteStdin writes data to a running process's stdin; eof closes it.
func (c *Client) WriteStdin(ctx context.Context, id, pid, data string, eof bool) error {
	return c.call(ctx, http.MethodPost, procPath(id, pid)+"/stdin", nil, map[string]any{"data": data, "eof": eof}, nil)
}

// Signal sends a signal ("SIGTERM", "TERM", ...) to a running process.
func (c *Client) Signal(ctx context.Context, id, pid, signal string) error {
	return c.call(ctx, http.MethodPost, procPath(id, pid)+"/signal", nil, map[string]any{"signal": signal}, nil)
}

// WaitProcess waits at most timeout for a process to end and returns its
// state (Running still true if it did not).
func (c *Client) WaitProcess(ctx context.Context, id, pid string, timeout time.Duration) (*Process, error) {
	var p Process
	q := url.Values{"timeout": {strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)}}
	return &p, c.call(ctx, http.MethodPost, procPath(id, pid)+"/wait", q, nil, &p)
}

// Keepalive counts as activity on a sandbox and, with extend > 0, keeps it
// at least that long; it returns when the sandbox expires ("" if never).
func (c *Client) Keepalive(ctx context.Context, id string, extend time.Duration) (string, error) {
	var in any
	if extend > 0 {
		in = map[string]any{"timeout": extend.Seconds()}
	}
	var out struct {
		ExpiresAt *string `json:"expires_at"`
	}
	if err := c.call(ctx, http.MethodPost, "/sandbox/"+url.PathEscape(id)+"/keepalive", nil, in, &out); err != nil {
		return "", err
	}
	if out.ExpiresAt == nil {
		return "", nil
	}
	return *out.ExpiresAt, nil
}
