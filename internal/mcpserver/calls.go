package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The enclave tools, in a session's sandbox or from the pool, with
// progress notifications.

// callInSandbox runs an enclave tool in one of the session's sandboxes.
func (s *session) callInSandbox(ctx context.Context, req *mcp.CallToolRequest, tool string) (*mcp.CallToolResult, error) {
	var args map[string]json.RawMessage
	if err := json.Unmarshal(orEmpty(req.Params.Arguments), &args); err != nil {
		return errorResult("arguments must be an object"), nil
	}
	var id string
	if json.Unmarshal(args["sandbox_id"], &id) != nil || id == "" {
		return errorResult("sandbox_id (a string) is required"), nil
	}
	if err := s.own(id); err != nil {
		return errorResult(err.Error()), nil
	}
	delete(args, "sandbox_id")
	params, _ := json.Marshal(args)
	ctx, stop := s.progress(ctx, req)
	res, err := s.m.Execute(ctx, id, tool, params)
	stop()
	return toolResult(res, err), nil
}

func (s *session) callInPool(ctx context.Context, req *mcp.CallToolRequest, tool string) (*mcp.CallToolResult, error) {
	params := orEmpty(req.Params.Arguments)
	ctx, stop := s.progress(ctx, req)
	res, err := s.m.PoolExecute(ctx, tool, params, 0)
	stop()
	return toolResult(res, err), nil
}

func orEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`)
	}
	return raw
}

// progress reports a call's output as progress notifications when the
// client asked for them (a progress token), and a heartbeat while it is
// silent. stop waits for the last notification.
func (s *session) progress(ctx context.Context, req *mcp.CallToolRequest) (context.Context, func()) {
	token := req.Params.GetProgressToken()
	if token == nil {
		return ctx, func() {}
	}
	var mu sync.Mutex
	n := 0.0
	notify := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		n++
		// Progress must grow: it counts the notifications.
		req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: n, Message: msg})
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				notify(fmt.Sprintf("running for %.0f s", time.Since(start).Seconds()))
			}
		}
	}()
	ctx = manager.WithOutput(ctx, func(stream string, data []byte) {
		notify(stream + ": " + strings.ToValidUTF8(string(data), "\uFFFD"))
	})
	return ctx, func() { close(done); <-finished }
}

// callOut is a tool call's result as structured content (ms-enclave's
// ToolResult fields).
type callOut struct {
	Status   string  `json:"status"`
	Output   string  `json:"output"`
	Error    *string `json:"error"`
	ExitCode int     `json:"exit_code"`
	Verdict  string  `json:"verdict,omitempty"`
	Seconds  float64 `json:"execution_time"`
}

func toolResult(res manager.Result, err error) *mcp.CallToolResult {
	if err != nil {
		var me *manager.Error
		if errors.As(err, &me) {
			return errorResult(me.Msg)
		}
		return errorResult(err.Error())
	}
	out := callOut{Status: res.Status, Output: res.Output, Error: res.Error, ExitCode: res.ExitCode, Verdict: res.Verdict,
		Seconds: res.Duration.Seconds()}
	text := res.Output
	if res.Error != nil && *res.Error != "" {
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += *res.Error
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}, StructuredContent: out,
		IsError: res.Status != "success"}
}

func errorResult(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: msg}}, IsError: true}
}
