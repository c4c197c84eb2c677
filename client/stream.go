package client

// Streamed tool calls and followed process output: Server-Sent Events
// (docs/api.md §12.1).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Output is a piece of a call's or a process's output.
type Output struct {
	Stream string `json:"stream"` // "stdout" or "stderr"
	Data   string `json:"data"`
}

// Event is one Server-Sent Event.
type Event struct {
	Name string
	Data json.RawMessage
}

// readEvents calls fn with each event of an SSE body until it ends or fn
// returns false.
func readEvents(body io.Reader, fn func(Event) bool) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var name string
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 || name != "" {
				if !fn(Event{Name: name, Data: append(json.RawMessage(nil), bytes.TrimSuffix(data.Bytes(), []byte("\n"))...)}) {
					return nil
				}
			}
			name = ""
			data.Reset()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			data.WriteByte('\n')
		}
	}
	return sc.Err()
}

// finalEvent reads an SSE answer: output events go to onOutput until the
// event named final, decoded into out (got: it came), or an error event.
func finalEvent(resp *http.Response, final string, onOutput func(Output), out any) (got bool, err error) {
	defer resp.Body.Close()
	var failure error
	err = readEvents(resp.Body, func(e Event) bool {
		switch e.Name {
		case "output":
			var o Output
			if json.Unmarshal(e.Data, &o) == nil && onOutput != nil {
				onOutput(o)
			}
		case final:
			got, failure = true, json.Unmarshal(e.Data, out)
			return false
		case "error":
			var x struct {
				Detail     json.RawMessage `json:"detail"`
				StatusCode int             `json:"status_code"`
			}
			json.Unmarshal(e.Data, &x)
			failure = &APIError{Status: x.StatusCode, Detail: x.Detail}
			return false
		}
		return true
	})
	if failure != nil {
		return got, failure
	}
	return got, err
}

// streamResult reads a streamed call: output, then its result.
func streamResult(resp *http.Response, onOutput func(Output)) (*ToolResult, error) {
	var res ToolResult
	got, err := finalEvent(resp, "result", onOutput, &res)
	if err != nil {
		return nil, err
	}
	if !got {
		return nil, fmt.Errorf("event stream ended without a result: %w", io.ErrUnexpectedEOF)
	}
	return &res, nil
}

// ExecuteToolStream is ExecuteTool with the output handed to onOutput as
// the call prints it; it returns the same result once the call ends.
// Cancelling ctx kills the call.
func (c *Client) ExecuteToolStream(ctx context.Context, id, tool string, params any, onOutput func(Output)) (*ToolResult, error) {
	b, err := json.Marshal(map[string]any{"sandbox_id": id, "tool_name": tool, "parameters": params, "timeout": nil})
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, http.MethodPost, "/sandbox/tool/execute", url.Values{"stream": {"true"}}, bytes.NewReader(b), "application/json")
	if err != nil {
		return nil, err
	}
	return streamResult(resp, onOutput)
}

// ExecuteInPoolStream is ExecuteInPool, streamed.
func (c *Client) ExecuteInPoolStream(ctx context.Context, tool string, params any, wait float64, onOutput func(Output)) (*ToolResult, error) {
	q := url.Values{"tool_name": {tool}, "stream": {"true"}}
	if wait > 0 {
		q.Set("timeout", strconv.FormatFloat(wait, 'f', -1, 64))
	}
	b, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, http.MethodPost, "/pool/execute", q, bytes.NewReader(b), "application/json")
	if err != nil {
		return nil, err
	}
	return streamResult(resp, onOutput)
}
