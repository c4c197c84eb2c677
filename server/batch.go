package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/enclave-sandbox/enclave/internal/batch"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// Batch limits (docs/api.md §14.1).
const (
	MaxBatchCalls       = 1000
	MaxBatchConcurrency = 64
	maxBatchSeconds     = 3600.0
	defaultBatchSeconds = 600.0
)

type batchCallJSON struct {
	ToolName   string         `json:"tool_name"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Timeout    *float64       `json:"timeout,omitempty" doc:"seconds; this call's own deadline"`
}

// batchRequestJSON is the body of both batch routes (sandbox_id only for
// POST /sandbox/tool/execute_batch).
type batchRequestJSON struct {
	SandboxID   string          `json:"sandbox_id,omitempty"`
	Calls       []batchCallJSON `json:"calls"`
	Concurrency *int            `json:"concurrency,omitempty" doc:"calls at once (pool: the pool's size; a sandbox: 1)"`
	Timeout     *float64        `json:"timeout,omitempty" doc:"seconds; the whole batch's deadline (600)"`
}

type batchResultsJSON struct {
	Results []toolResultJSON `json:"results"`
}

type batchEventJSON struct {
	Index  int            `json:"index"`
	Result toolResultJSON `json:"result"`
}

type batchDoneJSON struct {
	Count     int `json:"count"`
	Succeeded int `json:"succeeded"`
}

// batchRequest is a validated batch.
type batchRequest struct {
	sandboxID   string
	calls       []batch.Call
	concurrency int
	timeout     time.Duration
}

// parseBatch validates a batch body; 422s name the field (body, calls, i, ...).
func parseBatch(raw json.RawMessage, withSandbox bool) (batchRequest, error) {
	if len(raw) == 0 {
		raw = nil // absent (readJSON's nil)
	}
	body, err := objectBody(raw, false)
	if err != nil {
		return batchRequest{}, err
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		return batchRequest{}, invalid(dictType(nil, "body"))
	}
	var req batchRequest
	if withSandbox {
		if err := json.Unmarshal(in["sandbox_id"], &req.sandboxID); err != nil || req.sandboxID == "" {
			return req, invalid(validationError{Type: "string_type", Loc: []any{"body", "sandbox_id"}, Msg: "Input should be a valid string", Input: nil})
		}
	}
	var calls []json.RawMessage
	if err := json.Unmarshal(in["calls"], &calls); err != nil || len(calls) == 0 || len(calls) > MaxBatchCalls {
		return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "calls"},
			Msg: fmt.Sprintf("Value error, a list of 1 to %d calls", MaxBatchCalls), Input: nil})
	}
	for i, c := range calls {
		var call struct {
			ToolName   *string         `json:"tool_name"`
			Parameters json.RawMessage `json:"parameters"`
			Timeout    *float64        `json:"timeout"`
		}
		if len(c) == 0 || c[0] != '{' || json.Unmarshal(c, &call) != nil || call.ToolName == nil || *call.ToolName == "" {
			return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "calls", i, "tool_name"},
				Msg: `Value error, each call is {"tool_name": string, "parameters": object, "timeout": seconds}`, Input: nil})
		}
		if p := call.Parameters; len(p) > 0 && string(p) != "null" && p[0] != '{' {
			return req, invalid(dictType(nil, "body", "calls", i, "parameters"))
		}
		bc := batch.Call{Tool: *call.ToolName, Params: call.Parameters}
		if call.Timeout != nil {
			if *call.Timeout <= 0 || *call.Timeout > maxBatchSeconds {
				return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "calls", i, "timeout"},
					Msg: fmt.Sprintf("Value error, seconds above 0 and at most %g", maxBatchSeconds), Input: *call.Timeout})
			}
			bc.Timeout = seconds(*call.Timeout)
		}
		req.calls = append(req.calls, bc)
	}
	if v, ok := in["concurrency"]; ok && string(v) != "null" {
		if json.Unmarshal(v, &req.concurrency) != nil || req.concurrency < 1 || req.concurrency > MaxBatchConcurrency {
			return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "concurrency"},
				Msg: fmt.Sprintf("Value error, an integer from 1 to %d", MaxBatchConcurrency), Input: nil})
		}
	}
	req.timeout = seconds(defaultBatchSeconds)
	if v, ok := in["timeout"]; ok && string(v) != "null" {
		var t float64
		if json.Unmarshal(v, &t) != nil || t <= 0 || t > maxBatchSeconds {
			return req, invalid(validationError{Type: "value_error", Loc: []any{"body", "timeout"},
				Msg: fmt.Sprintf("Value error, seconds above 0 and at most %g", maxBatchSeconds), Input: nil})
		}
		req.timeout = seconds(t)
	}
	return req, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func (s *Server) poolExecuteBatch(w http.ResponseWriter, r *http.Request) error {
	raw, err := readJSON(r)
	if err != nil {
		return err
	}
	req, err := parseBatch(raw, false)
	if err != nil {
		return err
	}
	if req.concurrency == 0 {
		req.concurrency = min(MaxBatchConcurrency, max(1, s.m.Stats().PoolSize))
	}
	return s.runBatch(w, r, "POST /pool/execute_batch", req, func(ctx context.Context, c batch.Call) (manager.Result, error) {
		return s.m.PoolExecute(ctx, c.Tool, c.Params, 0)
	})
}

func (s *Server) executeToolBatch(w http.ResponseWriter, r *http.Request) error {
	raw, err := readJSON(r)
	if err != nil {
		return err
	}
	req, err := parseBatch(raw, true)
	if err != nil {
		return err
	}
	annotate(r, req.sandboxID, "")
	if _, ok := s.m.Get(req.sandboxID); !ok {
		return errStatus(http.StatusNotFound, "Sandbox not found")
	}
	if req.concurrency == 0 {
		req.concurrency = 1
	}
	return s.runBatch(w, r, "POST /sandbox/tool/execute_batch", req, func(ctx context.Context, c batch.Call) (manager.Result, error) {
		return s.m.Execute(ctx, req.sandboxID, c.Tool, c.Params)
	})
}

// runBatch runs a batch and answers its results in request order, or as an
// event stream in completion order.
func (s *Server) runBatch(w http.ResponseWriter, r *http.Request, route string, req batchRequest, run func(context.Context, batch.Call) (manager.Result, error)) error {
	ctx, cancel := context.WithTimeout(r.Context(), req.timeout)
	defer cancel()
	if wantsStream(r) {
		if s.opts.Observer != nil {
			s.opts.Observer.Streamed(route)
		}
		es := newEventStream(w)
		done := batchDoneJSON{Count: len(req.calls)}
		batch.Run(ctx, req.calls, req.concurrency, run, func(o batch.Outcome[manager.Result]) {
			res := s.batchResult(req.calls[o.Index], o, req.timeout)
			if res.Status == tool.StatusSuccess {
				done.Succeeded++
			}
			es.event("result", batchEventJSON{Index: o.Index, Result: res})
		})
		es.event("done", done)
		return nil
	}
	out := batchResultsJSON{Results: make([]toolResultJSON, len(req.calls))}
	batch.Run(ctx, req.calls, req.concurrency, run, func(o batch.Outcome[manager.Result]) {
		out.Results[o.Index] = s.batchResult(req.calls[o.Index], o, req.timeout)
	})
	if r.Context().Err() != nil {
		return nil // the client left; its calls were cancelled
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// batchResult renders one outcome as a ToolResult: a refused call is an
// error result with the status the single call would have answered.
func (s *Server) batchResult(c batch.Call, o batch.Outcome[manager.Result], batchTimeout time.Duration) toolResultJSON {
	if o.Err == nil && o.DeadlineExceeded {
		msg := fmt.Sprintf("Call deadline of %g s exceeded", c.Timeout.Seconds())
		o.Result.Status, o.Result.Verdict, o.Result.Error = tool.StatusTimeout, tool.VerdictTimeout, &msg
	}
	if o.Err == nil {
		return s.toolResult(o.Result)
	}
	status, detail := toHTTP(o.Err)
	msg, _ := detail.(string)
	switch {
	case errors.Is(o.Err, batch.ErrNotStarted), errors.Is(o.Err, context.DeadlineExceeded), errors.Is(o.Err, context.Canceled):
		status, msg = http.StatusRequestTimeout, fmt.Sprintf("Batch deadline of %g s reached before this call started", batchTimeout.Seconds())
	case msg == "":
		b, _ := json.Marshal(detail)
		msg = string(b)
	}
	res := toolResultJSON{Status: tool.StatusError, ExecutionTime: pyjson.Float(0), Timestamp: pyjson.FormatTime(time.Now().UTC()),
		ToolName: c.Tool, Metadata: toolMetaJSON{ExitCode: -1, Verdict: "rejected", StatusCode: status}, Error: &msg}
	if status == http.StatusRequestTimeout {
		res.Status = tool.StatusTimeout
	}
	return res
}
