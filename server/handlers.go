package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk"

	"github.com/enclave-sandbox/enclave/internal/manager"
)

// Response shapes; field order is the contract's key order.

type statsJSON struct {
	ManagerType     string         `json:"manager_type"`
	TotalSandboxes  int            `json:"total_sandboxes"`
	StatusCounts    pyjson.Ordered `json:"status_counts"`
	SandboxTypes    pyjson.Ordered `json:"sandbox_types"`
	Running         bool           `json:"running"`
	CleanupInterval int            `json:"cleanup_interval"`
	PoolSize        int            `json:"pool_size"`
	PoolEnabled     bool           `json:"pool_enabled"`
	PoolInitialized bool           `json:"pool_initialized"`
}

type healthJSON struct {
	Healthy bool `json:"healthy"`
	// Warnings (additive): limits the runtime cannot enforce on this host;
	// errors: why no backend answers.
	Warnings        []string     `json:"warnings,omitempty"`
	Errors          []string     `json:"errors,omitempty"`
	Version         string       `json:"version"`
	Uptime          pyjson.Float `json:"uptime"`
	ActiveSandboxes int          `json:"active_sandboxes"`
	SystemInfo      statsJSON    `json:"system_info"`
}

type metadataJSON struct {
	ContainerID string `json:"container_id"`
	Image       string `json:"image,omitempty"`
	Pool        bool   `json:"pool,omitempty"`
	Error       string `json:"error,omitempty"`
	// ExpiresAt (enclave): when an idle sandbox will be deleted, for one
	// with its own idle_timeout or a keep-alive.
	ExpiresAt string `json:"expires_at,omitempty"`
	// PausedAt (enclave): when the sandbox was paused; absent when it runs.
	PausedAt string `json:"paused_at,omitempty"`
}

type sandboxJSON struct {
	ID             string         `json:"id"`
	Status         string         `json:"status"`
	Type           string         `json:"type"`
	Config         any            `json:"config"`
	CreatedAt      string         `json:"created_at"`
	UpdatedAt      string         `json:"updated_at"`
	Metadata       metadataJSON   `json:"metadata"`
	AvailableTools pyjson.Ordered `json:"available_tools"`
}

type toolMetaJSON struct {
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	Verdict    string `json:"verdict,omitempty"`
	// StatusCode (batches only): the status the single call would have
	// answered when it was refused.
	StatusCode int `json:"status_code,omitempty"`
}

type toolResultJSON struct {
	Status        string       `json:"status"`
	ExecutionTime pyjson.Float `json:"execution_time"`
	Timestamp     string       `json:"timestamp"`
	ToolName      string       `json:"tool_name"`
	Output        string       `json:"output"`
	Metadata      toolMetaJSON `json:"metadata"`
	Error         *string      `json:"error"`
}

type messageJSON struct {
	Message string `json:"message"`
}

type okJSON struct {
	OK bool `json:"ok"`
}

type createdJSON struct {
	SandboxID string `json:"sandbox_id"`
}

func statsOf(st manager.Stats) statsJSON {
	return statsJSON{ManagerType: "local", TotalSandboxes: st.Total, StatusCounts: st.StatusCounts, SandboxTypes: st.SandboxTypes,
		Running: st.Running, CleanupInterval: st.CleanupInterval, PoolSize: st.PoolSize, PoolEnabled: st.PoolEnabled,
		PoolInitialized: st.PoolInitialized}
}

func sandboxOf(in manager.SandboxInfo) sandboxJSON {
	return sandboxJSON{ID: in.ID, Status: string(in.Status), Type: in.Type, Config: in.Config,
		CreatedAt: pyjson.FormatTime(in.CreatedAt), UpdatedAt: pyjson.FormatTime(in.UpdatedAt),
		Metadata:       metadataJSON{ContainerID: in.ContainerID, Image: in.Image, Pool: in.Pool, Error: in.Error, ExpiresAt: expiry(in.ExpiresAt), PausedAt: expiry(in.PausedAt)},
		AvailableTools: in.Tools}
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return pyjson.FormatTime(t)
}

func (s *Server) toolResult(res manager.Result) toolResultJSON {
	out := toolResultJSON{Status: res.Status, ExecutionTime: pyjson.Float(res.Duration.Seconds()),
		Timestamp: pyjson.FormatTime(res.Finished), ToolName: res.ToolName, Output: res.Output,
		Metadata: toolMetaJSON{ExitCode: res.ExitCode, DurationMS: res.Duration.Milliseconds(), Verdict: res.Verdict},
		Error:    res.Error}
	if s.opts.Observer != nil {
		s.opts.Observer.Tool(res.ToolName, res.Status, res.Verdict, res.Duration, len(res.Output))
	}
	return out
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	st := s.m.Stats()
	h := s.m.Health(r.Context())
	writeJSON(w, http.StatusOK, healthJSON{Healthy: h.Healthy, Warnings: h.Warnings, Errors: h.Errors, Version: s.opts.Version,
		Uptime: pyjson.Float(time.Since(s.started).Seconds()), ActiveSandboxes: st.Total, SystemInfo: statsOf(st)})
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, okJSON{OK: true})
	return nil
}

func (s *Server) stats(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, statsOf(s.m.Stats()))
	return nil
}

type bucketJSON struct {
	LE    float64 `json:"le"`
	Count uint64  `json:"count"`
}

// callsJSON is GET /stats/calls: cumulative, for a dashboard to difference.
type callsJSON struct {
	Calls   uint64       `json:"calls"`
	Errors  uint64       `json:"errors"`
	Buckets []bucketJSON `json:"duration_buckets" doc:"cumulative counts of tool-call durations (seconds) by upper bound; calls is the +Inf bucket"`
}

func (s *Server) callStats(w http.ResponseWriter, _ *http.Request) error {
	out := callsJSON{Buckets: []bucketJSON{}}
	if s.opts.Calls != nil {
		c := s.opts.Calls()
		out.Calls, out.Errors = c.Calls, c.Errors
		for _, b := range c.Buckets {
			if !math.IsInf(b.LE, 0) {
				out.Buckets = append(out.Buckets, bucketJSON{LE: b.LE, Count: b.Count})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	s.opts.Metrics.ServeHTTP(w, r)
	return nil
}

// sandboxType reads and checks the sandbox_type query parameter.
func (s *Server) sandboxType(r *http.Request, required bool) (string, error) {
	if !r.URL.Query().Has("sandbox_type") && !required {
		return "docker", nil
	}
	t, herr := requiredQuery(r, "sandbox_type")
	if herr != nil {
		return "", herr
	}
	allowed := sandboxTypeNames(s)
	if herr := enumQuery("sandbox_type", t, allowed); herr != nil {
		return "", herr
	}
	return t, nil
}

// sandboxTypeNames are the accepted sandbox_type values: the contract's and
// any a backend plugin serves.
func sandboxTypeNames(s *Server) []string {
	var allowed []string
	for _, st := range sdk.SandboxTypes {
		allowed = append(allowed, st.Name)
	}
	if s.opts.SandboxTypes != nil {
		for _, x := range s.opts.SandboxTypes() {
			if !slices.Contains(allowed, x) {
				allowed = append(allowed, x)
			}
		}
	}
	return allowed
}

func (s *Server) createSandbox(w http.ResponseWriter, r *http.Request) error {
	typ, err := s.sandboxType(r, true)
	if err != nil {
		return err
	}
	body, err := jsonObject(r, true)
	if err != nil {
		return err
	}
	id, err := s.m.Create(r.Context(), typ, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, createdJSON{SandboxID: id})
	return nil
}

func (s *Server) listSandboxes(w http.ResponseWriter, r *http.Request) error {
	var status manager.Status
	if r.URL.Query().Has("status") {
		v := r.URL.Query().Get("status")
		names := make([]string, len(manager.Statuses))
		for i, st := range manager.Statuses {
			names[i] = string(st)
		}
		if herr := enumQuery("status", v, names); herr != nil {
			return herr
		}
		status = manager.Status(v)
	}
	list := s.m.List(status)
	out := make([]sandboxJSON, len(list))
	for i, in := range list {
		out[i] = sandboxOf(in)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getSandbox(w http.ResponseWriter, r *http.Request) error {
	in, ok := s.m.Get(r.PathValue("sandbox_id"))
	if !ok {
		return errStatus(http.StatusNotFound, "Sandbox not found")
	}
	writeJSON(w, http.StatusOK, sandboxOf(in))
	return nil
}

func (s *Server) stopSandbox(w http.ResponseWriter, r *http.Request) error {
	if err := s.m.Stop(r.Context(), r.PathValue("sandbox_id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, messageJSON{"Sandbox stopped successfully"})
	return nil
}

func (s *Server) deleteSandbox(w http.ResponseWriter, r *http.Request) error {
	if err := s.m.Delete(r.Context(), r.PathValue("sandbox_id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, messageJSON{"Sandbox deleted successfully"})
	return nil
}

func (s *Server) executeTool(w http.ResponseWriter, r *http.Request) error {
	raw, err := readJSON(r)
	if err != nil {
		return err
	}
	req, err := parseToolRequest(raw)
	if err != nil {
		return err
	}
	annotate(r, req.SandboxID, req.ToolName)
	if wantsStream(r) {
		return s.streamCall(w, r, "POST /sandbox/tool/execute", func(ctx context.Context) (manager.Result, error) {
			return s.m.Execute(ctx, req.SandboxID, req.ToolName, req.Parameters)
		})
	}
	res, err := s.m.Execute(r.Context(), req.SandboxID, req.ToolName, req.Parameters)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toolResult(res))
	return nil
}

func (s *Server) sandboxTools(w http.ResponseWriter, r *http.Request) error {
	tools, err := s.m.Tools(r.PathValue("sandbox_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tools)
	return nil
}

// limitTracker remembers that the body limit was hit, so a failure deep in
// the backend still answers 413.
type limitTracker struct {
	r   io.Reader
	hit bool
}

func (l *limitTracker) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		l.hit = true
	}
	return n, err
}

func (s *Server) putArchive(w http.ResponseWriter, r *http.Request) error {
	dir, herr := requiredQuery(r, "target_dir")
	if herr != nil {
		return herr
	}
	if r.ContentLength > s.opts.MaxArchive {
		return errStatus(http.StatusRequestEntityTooLarge, "Request body too large")
	}
	br := bufio.NewReaderSize(r.Body, 64<<10)
	if _, err := br.Peek(1); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errStatus(http.StatusRequestEntityTooLarge, "Request body too large")
		}
		return errStatus(http.StatusBadRequest, "Archive body must not be empty")
	}
	if dir == "" {
		return errStatus(http.StatusBadRequest, "target_dir must not be empty")
	}
	lt := &limitTracker{r: br}
	if err := s.m.PutArchive(r.Context(), r.PathValue("sandbox_id"), dir, lt); err != nil {
		if lt.hit {
			return errStatus(http.StatusRequestEntityTooLarge, "Request body too large")
		}
		return err
	}
	writeJSON(w, http.StatusOK, okJSON{OK: true})
	return nil
}

// lazyTar sets the tar headers on the first byte, so an error that comes
// before any data can still be a JSON error.
type lazyTar struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyTar) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.Header().Set("Content-Type", "application/x-tar")
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

func (s *Server) getArchive(w http.ResponseWriter, r *http.Request) error {
	p, herr := requiredQuery(r, "path")
	if herr != nil {
		return herr
	}
	if p == "" {
		return errStatus(http.StatusBadRequest, "path must not be empty")
	}
	lt := &lazyTar{w: w}
	if err := s.m.GetArchive(r.Context(), r.PathValue("sandbox_id"), p, lt); err != nil {
		if lt.started {
			// Headers are gone: cut the connection so the client sees a
			// truncated transfer, not a silently short tar.
			panic(http.ErrAbortHandler)
		}
		return err
	}
	if !lt.started {
		lt.Write(nil)
	}
	return nil
}

type poolInitJSON struct {
	Message    string   `json:"message"`
	PoolSize   int      `json:"pool_size"`
	SandboxIDs []string `json:"sandbox_ids"`
	Errors     []string `json:"errors,omitempty"`
}

func (s *Server) poolInitialize(w http.ResponseWriter, r *http.Request) error {
	n, _, herr := intQuery(r, "pool_size")
	if herr != nil {
		return herr
	}
	typ, err := s.sandboxType(r, false)
	if err != nil {
		return err
	}
	body, err := jsonObject(r, true)
	if err != nil {
		return err
	}
	res, err := s.m.InitializePool(r.Context(), typ, n, body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, poolInitJSON{Message: "Pool initialized successfully", PoolSize: len(res.IDs), SandboxIDs: res.IDs, Errors: res.Errors})
	return nil
}

func (s *Server) poolExecute(w http.ResponseWriter, r *http.Request) error {
	toolName, herr := requiredQuery(r, "tool_name")
	if herr != nil {
		return herr
	}
	wait, _, herr := floatQuery(r, "timeout")
	if herr != nil {
		return herr
	}
	body, err := jsonObject(r, false)
	if err != nil {
		return err
	}
	annotate(r, "", toolName)
	if wantsStream(r) {
		return s.streamCall(w, r, "POST /pool/execute", func(ctx context.Context) (manager.Result, error) {
			return s.m.PoolExecute(ctx, toolName, body, wait)
		})
	}
	res, err := s.m.PoolExecute(r.Context(), toolName, body, wait)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toolResult(res))
	return nil
}
