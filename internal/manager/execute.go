package manager

// Tool calls.

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// Result is a tool call's outcome plus timing.
type Result struct {
	tool.Result
	ToolName string
	Duration time.Duration
	Finished time.Time
}

// activeSandbox looks up an active sandbox for a tool call or archive
// operation and counts the operation in flight. release must be called.
func (m *Manager) activeSandbox(id string, notActive ErrorKind) (*sandbox, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sb, err := m.activeLocked(id, notActive)
	if err != nil {
		return nil, nil, err
	}
	if sb.paused {
		return nil, nil, errorf(KindConflict, "Sandbox %s is paused; POST /sandbox/%s/resume first", id, id)
	}
	sb.inflight++
	sb.lastActivity = time.Now().UTC()
	return sb, func() {
		m.mu.Lock()
		sb.inflight--
		sb.lastActivity = time.Now().UTC()
		settle := sb.settle
		sb.settle = nil
		m.mu.Unlock()
		if settle != nil {
			settle()
		}
	}, nil
}

// activeLocked looks up a registered, active sandbox. Caller holds m.mu.
func (m *Manager) activeLocked(id string, notActive ErrorKind) (*sandbox, error) {
	if !m.running {
		return nil, errorf(KindNotStarted, "Sandbox manager not started")
	}
	sb, ok := m.sandboxes[id]
	if !ok {
		return nil, errorf(KindNotFound, "Sandbox %s not found", id)
	}
	if !sb.status.active() {
		return nil, errorf(notActive, "Sandbox %s is not active (status: %s)", id, sb.status)
	}
	return sb, nil
}

// Execute runs a tool in a sandbox.
func (m *Manager) Execute(ctx context.Context, id, toolName string, params json.RawMessage) (Result, error) {
	sb, release, err := m.activeSandbox(id, KindNotActive)
	if err != nil {
		return Result{}, err
	}
	defer release()
	return m.runTool(ctx, sb, toolName, params)
}

func (m *Manager) runTool(ctx context.Context, sb *sandbox, toolName string, params json.RawMessage) (Result, error) {
	var bt *boundTool
	for i := range sb.tools {
		if sb.tools[i].name == toolName {
			bt = &sb.tools[i]
		}
	}
	if bt == nil {
		return Result{}, errorf(KindToolUnavailable, "Tool %s is not available", toolName)
	}
	if len(params) == 0 || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	if problems := bt.validator.Validate(params); problems != "" {
		return Result{}, errorf(KindInvalidParams, "Invalid parameters for tool %s: %s", toolName, problems)
	}
	maxOutput := m.opts.MaxOutputBytes
	if defs := m.opts.ToolDefaults[bt.tool.Info().Name]; len(defs) > 0 {
		params, maxOutput = applyDefaults(params, defs, maxOutput)
	}
	start := time.Now()
	ctx, streamed := m.streaming(ctx)
	res, err := bt.tool.Execute(ctx, tool.SandboxInfo{ID: sb.id, Type: sb.typ, WorkingDir: sb.cfg.WorkingDir, Image: sb.image, Env: sb.cfg.Env()},
		tool.Call{Name: toolName, Params: params, Options: bt.options, MaxDuration: m.opts.ExecMaxDuration, MaxOutputBytes: maxOutput})
	if err != nil {
		res = tool.Failed("Execution failed: " + err.Error())
		if ctx.Err() != nil {
			res.Verdict = tool.VerdictKilled
		}
	}
	if res.Status != tool.StatusSuccess && res.Error == nil {
		res.Error = tool.ErrorText("Execution failed: tool reported " + res.Status + " without a message")
	}
	streamed() // every chunk is out before the result
	return Result{Result: res, ToolName: toolName, Duration: time.Since(start), Finished: time.Now().UTC()}, nil
}

// applyDefaults adds the operator's defaults for parameters the call
// omitted, and lowers the output cap when the tool has its own.
func applyDefaults(params json.RawMessage, defs map[string]json.RawMessage, maxOutput int64) (json.RawMessage, int64) {
	obj, err := pyjson.ParseOrdered(params)
	if err != nil {
		return params, maxOutput
	}
	keys := make([]string, 0, len(defs))
	for k := range defs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "max_output_bytes" {
			var n int64
			if json.Unmarshal(defs[k], &n) == nil && n > 0 && n < maxOutput {
				maxOutput = n
			}
			continue
		}
		if _, set := obj.Get(k); !set {
			obj = append(obj, pyjson.KV{Key: k, Value: defs[k]})
		}
	}
	out, _ := obj.MarshalJSON()
	return out, maxOutput
}
