package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// BatchCall is one call of a batch (docs/api.md §14.1).
type BatchCall struct {
	ToolName   string `json:"tool_name"`
	Parameters any    `json:"parameters,omitempty"`
	// Timeout is this call's own deadline in seconds (0: none).
	Timeout float64 `json:"timeout,omitempty"`
}

// BatchOptions tune a batch; zero values take the server's defaults.
type BatchOptions struct {
	Concurrency int     `json:"concurrency,omitempty"`
	Timeout     float64 `json:"timeout,omitempty"` // the whole batch, seconds
}

type batchBody struct {
	SandboxID string      `json:"sandbox_id,omitempty"`
	Calls     []BatchCall `json:"calls"`
	BatchOptions
}

// ExecuteBatch calls POST /sandbox/tool/execute_batch: the results in the
// order of calls. A refused call is an error result, not an error.
func (c *Client) ExecuteBatch(ctx context.Context, sandboxID string, calls []BatchCall, o BatchOptions) ([]ToolResult, error) {
	return c.batch(ctx, "/sandbox/tool/execute_batch", batchBody{SandboxID: sandboxID, Calls: calls, BatchOptions: o})
}

// ExecuteInPoolBatch calls POST /pool/execute_batch.
func (c *Client) ExecuteInPoolBatch(ctx context.Context, calls []BatchCall, o BatchOptions) ([]ToolResult, error) {
	return c.batch(ctx, "/pool/execute_batch", batchBody{Calls: calls, BatchOptions: o})
}

func (c *Client) batch(ctx context.Context, path string, body batchBody) ([]ToolResult, error) {
	var out struct {
		Results []ToolResult `json:"results"`
	}
	return out.Results, c.call(ctx, http.MethodPost, path, nil, body, &out)
}

// ExecuteInPoolBatchStream is ExecuteInPoolBatch answered as it completes:
// onResult gets each call's index and result, in completion order.
func (c *Client) ExecuteInPoolBatchStream(ctx context.Context, calls []BatchCall, o BatchOptions, onResult func(int, ToolResult)) error {
	return c.batchStream(ctx, "/pool/execute_batch", batchBody{Calls: calls, BatchOptions: o}, onResult)
}

// ExecuteBatchStream is ExecuteBatch answered as it completes.
func (c *Client) ExecuteBatchStream(ctx context.Context, sandboxID string, calls []BatchCall, o BatchOptions, onResult func(int, ToolResult)) error {
	return c.batchStream(ctx, "/sandbox/tool/execute_batch", batchBody{SandboxID: sandboxID, Calls: calls, BatchOptions: o}, onResult)
}

func (c *Client) batchStream(ctx context.Context, path string, body batchBody, onResult func(int, ToolResult)) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := c.Do(ctx, http.MethodPost, path, url.Values{"stream": {"true"}}, bytes.NewReader(b), "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	done := false
	err = readEvents(resp.Body, func(e Event) bool {
		switch e.Name {
		case "result":
			var ev struct {
				Index  int        `json:"index"`
				Result ToolResult `json:"result"`
			}
			if json.Unmarshal(e.Data, &ev) == nil {
				onResult(ev.Index, ev.Result)
			}
		case "done":
			done = true
			return false
		}
		return true
	})
	if err == nil && !done {
		err = fmt.Errorf("batch event stream ended before done: %w", io.ErrUnexpectedEOF)
	}
	return err
}
