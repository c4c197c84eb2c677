package server

import (
	"net/http"

	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
)

// route is one entry of the route table.
type route struct {
	pattern string
	h       apiFunc
	// archive routes take raw bodies up to the archive limit.
	archive bool
	// raw routes write their own answers (pages, MCP): no JSON body
	// admission; errors are still JSON.
	raw bool
	doc op
}

// Error statuses, by route family (docs/api.md §2).
var (
	errsSandbox = []int{http.StatusNotFound}
	errsBody    = []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}
	errsCall    = []int{http.StatusBadRequest, http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}
	errsProcess = []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}
	// errsCreate: 501 for a snapshot on a backend without snapshots.
	errsCreate   = []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusNotImplemented}
	errsPause    = []int{http.StatusNotFound, http.StatusConflict, http.StatusNotImplemented}
	errsSnapshot = []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusNotImplemented}
)

var streamParam = param{name: "stream", typ: "boolean", desc: "answer as an event stream (also: Accept: text/event-stream)"}

// routes is every route of the API, in one table; GET /openapi.json is
// built from it (openapi.go).
func (s *Server) routes() []route {
	rs := []route{
		{pattern: "GET /health", h: s.health, doc: op{tag: tagCompat, summary: "Health, version and statistics",
			ok: healthJSON{}}},
		{pattern: "GET /healthz", h: s.healthz, doc: op{tag: tagEnclave, summary: "Liveness probe (no key needed)",
			ok: okJSON{}, public: true}},
		{pattern: "GET /stats", h: s.stats, doc: op{tag: tagCompat, summary: "Sandbox and pool statistics", ok: statsJSON{}}},
		{pattern: "GET /stats/calls", h: s.callStats, doc: op{tag: tagEnclave, summary: "Tool-call counters for dashboards (the console's calls/s, errors and p50)",
			ok: callsJSON{}}},
		{pattern: "POST /sandbox/create", h: s.createSandbox, doc: op{tag: tagCompat, summary: "Create a sandbox",
			desc:  "The body is the sandbox config (docs/api.md §4.1); every field is optional.",
			query: []param{{name: "sandbox_type", typ: "string", required: true, enum: sandboxTypeNames}},
			body:  sandboxconfig.Config{}, bodyPatch: configBody, ok: createdJSON{}, errs: errsCreate,
			example:   map[string]any{"image": "python:3.11-slim", "tools_config": map[string]any{"python_executor": map[string]any{}, "shell_executor": map[string]any{}}, "memory_limit": "512m"},
			okExample: map[string]any{"sandbox_id": "abcd2345"}}},
		{pattern: "GET /sandboxes", h: s.listSandboxes, doc: op{tag: tagCompat, summary: "List sandboxes",
			query: []param{{name: "status", typ: "string", enum: statusNames}}, ok: []sandboxJSON{}, errs: []int{http.StatusUnprocessableEntity}}},
		{pattern: "GET /sandbox/{sandbox_id}", h: s.getSandbox, doc: op{tag: tagCompat, summary: "Get a sandbox",
			ok: sandboxJSON{}, errs: errsSandbox}},
		{pattern: "DELETE /sandbox/{sandbox_id}", h: s.deleteSandbox, doc: op{tag: tagCompat, summary: "Delete a sandbox",
			ok: messageJSON{}, errs: errsSandbox}},
		{pattern: "POST /sandbox/{sandbox_id}/stop", h: s.stopSandbox, doc: op{tag: tagCompat, summary: "Stop a sandbox",
			ok: messageJSON{}, errs: errsSandbox}},
		{pattern: "POST /sandbox/tool/execute", h: s.executeTool, doc: op{tag: tagCompat, summary: "Call a tool in a sandbox",
			desc:  "With stream=true or Accept: text/event-stream: output events, then one result event (docs/api.md §12.1).",
			query: []param{streamParam}, body: toolRequestJSON{}, bodyRequired: true, fields: []string{"sandbox_id", "tool_name"}, ok: toolResultJSON{}, stream: true, errs: errsCall,
			example: map[string]any{"sandbox_id": "abcd2345", "tool_name": "python_executor", "parameters": map[string]any{"code": "print(40 + 2)"}},
			okExample: map[string]any{"status": "success", "execution_time": 0.0021, "timestamp": "2026-12-02T14:56:59.961711", "tool_name": "python_executor",
				"output": "42\n", "metadata": map[string]any{"exit_code": 0, "duration_ms": 2}, "error": nil}}},
		{pattern: "GET /sandbox/{sandbox_id}/tools", h: s.sandboxTools, doc: op{tag: tagCompat, summary: "A sandbox's tools and their parameter schemas",
			ok: map[string]any{}, errs: errsSandbox}},
		{pattern: "POST /sandbox/{sandbox_id}/archive", h: s.putArchive, archive: true, doc: op{tag: tagEnclave, summary: "Upload a tar archive into a sandbox",
			query: []param{{name: "target_dir", typ: "string", required: true}}, bodyMedia: "application/x-tar", bodyRequired: true,
			ok: okJSON{}, errs: append([]int{http.StatusNotFound, http.StatusConflict}, errsBody...)}},
		{pattern: "GET /sandbox/{sandbox_id}/archive", h: s.getArchive, doc: op{tag: tagEnclave, summary: "Download a path of a sandbox as a tar archive",
			query: []param{{name: "path", typ: "string", required: true}}, okMedia: "application/x-tar", errs: append([]int{http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity}, errsSandbox...)}},
		{pattern: "POST /pool/initialize", h: s.poolInitialize, doc: op{tag: tagCompat, summary: "Fill the pool",
			query: []param{{name: "pool_size", typ: "integer"}, {name: "sandbox_type", typ: "string", enum: sandboxTypeNames}},
			body:  sandboxconfig.Config{}, bodyPatch: configBody, ok: poolInitJSON{}, errs: errsCreate}},
		{pattern: "POST /pool/execute", h: s.poolExecute, doc: op{tag: tagCompat, summary: "Call a tool in a pooled sandbox",
			query: []param{{name: "tool_name", typ: "string", required: true}, {name: "timeout", typ: "number", desc: "seconds to wait for a free sandbox"}, streamParam},
			body:  map[string]any{}, bodyRequired: true, ok: toolResultJSON{}, stream: true, errs: errsCall,
			example: map[string]any{"code": "print(1)"}}},
		{pattern: "POST /pool/execute_batch", h: s.poolExecuteBatch, doc: op{tag: tagEnclave, summary: "Run many tool calls across the pool",
			desc:  "Results in request order; with stream=true or Accept: text/event-stream, result events ({index, result}) in completion order, then done (docs/api.md §14.1).",
			query: []param{streamParam}, body: batchRequestJSON{}, bodyRequired: true, fields: []string{"calls"}, ok: batchResultsJSON{}, stream: true,
			errs:    []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
			example: map[string]any{"calls": []any{map[string]any{"tool_name": "python_executor", "parameters": map[string]any{"code": "print(1)"}}, map[string]any{"tool_name": "python_executor", "parameters": map[string]any{"code": "print(2)"}, "timeout": 5}}}}},
		{pattern: "POST /sandbox/tool/execute_batch", h: s.executeToolBatch, doc: op{tag: tagEnclave, summary: "Run many tool calls in one sandbox",
			query: []param{streamParam}, body: batchRequestJSON{}, bodyRequired: true, fields: []string{"sandbox_id", "calls"}, ok: batchResultsJSON{}, stream: true,
			errs: []int{http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}}},
		// enclave's own (docs/api.md §12).
		{pattern: "POST /sandbox/{sandbox_id}/processes", h: s.startProcess, doc: op{tag: tagEnclave, summary: "Start a background process",
			body: processRequestJSON{}, bodyRequired: true, fields: []string{"command"}, ok: processJSON{}, errs: errsProcess,
			example: map[string]any{"command": "python3 -m http.server 8080", "timeout": 600}}},
		{pattern: "GET /sandbox/{sandbox_id}/processes", h: s.listProcesses, doc: op{tag: tagEnclave, summary: "List background processes",
			ok: processListJSON{}, errs: errsProcess}},
		{pattern: "GET /sandbox/{sandbox_id}/processes/{process_id}", h: s.getProcess, doc: op{tag: tagEnclave, summary: "Get a background process",
			ok: processJSON{}, errs: errsProcess}},
		{pattern: "GET /sandbox/{sandbox_id}/processes/{process_id}/output", h: s.processOutput, doc: op{tag: tagEnclave, summary: "Read (or follow) a process's output",
			query: []param{{name: "offset", typ: "integer"}, {name: "limit", typ: "integer"}, {name: "follow", typ: "boolean"}},
			ok:    outputJSON{}, stream: true, errs: errsProcess}},
		{pattern: "POST /sandbox/{sandbox_id}/processes/{process_id}/stdin", h: s.processStdin, doc: op{tag: tagEnclave, summary: "Write to a process's stdin",
			body: stdinJSON{}, bodyRequired: true, ok: stdinResultJSON{}, errs: errsProcess}},
		{pattern: "POST /sandbox/{sandbox_id}/processes/{process_id}/signal", h: s.signalProcess, doc: op{tag: tagEnclave, summary: "Send a signal to a process",
			body: signalRequestJSON{}, bodyRequired: true, fields: []string{"signal"}, ok: signalResultJSON{}, errs: errsProcess}},
		{pattern: "POST /sandbox/{sandbox_id}/processes/{process_id}/wait", h: s.waitProcess, doc: op{tag: tagEnclave, summary: "Wait for a process to end",
			query: []param{{name: "timeout", typ: "number"}}, ok: processJSON{}, errs: errsProcess}},
		{pattern: "GET /sandbox/{sandbox_id}/terminal", h: s.terminal, doc: op{tag: tagEnclave, summary: "A terminal over a WebSocket",
			query:   []param{{name: "rows", typ: "integer"}, {name: "cols", typ: "integer"}, {name: "command", typ: "string"}, {name: "cwd", typ: "string"}},
			upgrade: true, errs: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{pattern: "POST /sandbox/{sandbox_id}/keepalive", h: s.keepalive, doc: op{tag: tagEnclave, summary: "Keep a sandbox from being reaped",
			body: keepaliveRequestJSON{}, ok: keepaliveJSON{}, errs: errsProcess}},
		// Snapshots, forks, pause (docs/api.md §14.2, §14.3).
		{pattern: "POST /sandbox/{sandbox_id}/snapshot", h: s.takeSnapshot, doc: op{tag: tagEnclave, summary: "Save a sandbox's filesystem and config as a named snapshot",
			desc: "Processes and memory are not saved. 409: a pool member, a name taken, the quota reached; 501: the backend has no snapshots.",
			body: snapshotRequestJSON{}, ok: snapshotJSON{}, errs: errsSnapshot,
			example: map[string]any{"name": "repo-ready", "labels": map[string]any{"task": "swe-17"}, "ttl": 86400}}},
		{pattern: "GET /snapshots", h: s.listSnapshots, doc: op{tag: tagEnclave, summary: "List snapshots, newest first",
			query: []param{{name: "label", typ: "string", desc: "key=value; repeat to require several"}}, ok: snapshotListJSON{}, errs: []int{http.StatusUnprocessableEntity}}},
		{pattern: "GET /snapshots/{name}", h: s.getSnapshot, doc: op{tag: tagEnclave, summary: "Get a snapshot",
			ok: snapshotJSON{}, errs: []int{http.StatusNotFound}}},
		{pattern: "DELETE /snapshots/{name}", h: s.deleteSnapshot, doc: op{tag: tagEnclave, summary: "Delete a snapshot (its sandboxes keep running)",
			ok: messageJSON{}, errs: []int{http.StatusNotFound}}},
		{pattern: "POST /sandbox/{sandbox_id}/fork", h: s.forkSandbox, doc: op{tag: tagEnclave, summary: "Start sandboxes from the current filesystem of one",
			desc:  "All start or none; each gets the source's config and a copy of its files, not its processes.",
			query: []param{{name: "count", typ: "integer", desc: "1 to 64 (default 1)"}}, ok: forkJSON{}, errs: errsSnapshot}},
		{pattern: "POST /sandbox/{sandbox_id}/pause", h: s.pauseSandbox, doc: op{tag: tagEnclave, summary: "Freeze every process of a sandbox",
			desc: "409 while calls, transfers or terminals are in flight, or for a pool member. A paused sandbox answers 409 to calls until resumed.",
			ok:   pauseJSON{}, errs: errsPause}},
		{pattern: "POST /sandbox/{sandbox_id}/resume", h: s.resumeSandbox, doc: op{tag: tagEnclave, summary: "Thaw a paused sandbox",
			ok: pauseJSON{}, errs: errsPause}},
		{pattern: "GET /openapi.json", h: s.openapiJSON, raw: true, doc: op{tag: tagEnclave, summary: "This document",
			okMedia: "application/json", public: s.opts.PublicOpenAPI}},
		{pattern: "GET /docs", h: s.page("docs"), raw: true, doc: op{tag: tagEnclave, summary: "Interactive API documentation (Swagger UI)",
			okMedia: "text/html", public: true}},
		{pattern: "GET /redoc", h: s.page("redoc"), raw: true, doc: op{tag: tagEnclave, summary: "API reference (Redoc)",
			okMedia: "text/html", public: true}},
		{pattern: "GET /ui", h: s.page("console"), raw: true, doc: op{tag: tagEnclave, summary: "The operator console",
			okMedia: "text/html", public: true}},
		{pattern: "GET /assets/{path...}", h: s.asset, raw: true, doc: op{tag: tagEnclave, summary: "The pages' scripts and styles",
			okMedia: "*/*", public: true, errs: []int{http.StatusNotFound}}},
	}
	if s.opts.MCP != nil {
		for _, m := range []string{"POST", "GET", "DELETE"} {
			rs = append(rs, route{pattern: m + " /mcp", h: s.mcp, raw: true, doc: mcpDoc(m)})
		}
	}
	if s.opts.Metrics != nil {
		rs = append(rs, route{pattern: "GET /metrics", h: s.metrics, raw: true, doc: op{tag: tagEnclave, summary: "Prometheus metrics",
			okMedia: "text/plain"}})
	}
	return rs
}
