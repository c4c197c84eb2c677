// Package server is enclave's HTTP API (the ms-enclave contract, docs/api.md) on the
// standard library's ServeMux. It holds no sandbox logic: handlers decode
// requests, call the manager and encode responses.
package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/metrics"
)

// Manager is what the server needs of the core.
type Manager interface {
	Create(ctx context.Context, sandboxType string, body json.RawMessage) (string, error)
	List(status manager.Status) []manager.SandboxInfo
	Get(id string) (manager.SandboxInfo, bool)
	Stop(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
	Execute(ctx context.Context, id, toolName string, params json.RawMessage) (manager.Result, error)
	Tools(id string) (pyjson.Ordered, error)
	PutArchive(ctx context.Context, id, targetDir string, r io.Reader) error
	GetArchive(ctx context.Context, id, path string, w io.Writer) error
	Stats() manager.Stats
	Health(ctx context.Context) manager.Health
	InitializePool(ctx context.Context, sandboxType string, n int, body json.RawMessage) (manager.PoolInit, error)
	PoolExecute(ctx context.Context, toolName string, params json.RawMessage, waitSeconds float64) (manager.Result, error)
	// enclave's own (processes.go, terminal.go).
	StartProcess(ctx context.Context, id string, req manager.ProcessRequest) (manager.Process, error)
	Processes(ctx context.Context, id string) ([]manager.Process, error)
	Process(ctx context.Context, id, pid string) (manager.Process, error)
	ProcessOutput(ctx context.Context, id, pid string, offset, max int64) (manager.ProcessOutput, error)
	ProcessStdin(ctx context.Context, id, pid string, data []byte, eof bool) error
	SignalProcess(ctx context.Context, id, pid, signal string) error
	WaitProcess(ctx context.Context, id, pid string, timeout time.Duration) (manager.Process, error)
	OpenTerminal(ctx context.Context, id string, req manager.TerminalRequest, onOutput func([]byte)) (*manager.Terminal, error)
	Keepalive(ctx context.Context, id string, extend time.Duration) (time.Time, error)
	// Snapshots, forks, pause (snapshots.go).
	TakeSnapshot(ctx context.Context, id string, req manager.SnapshotRequest) (manager.Snapshot, error)
	Snapshots(ctx context.Context, labels map[string]string) ([]manager.Snapshot, error)
	GetSnapshot(ctx context.Context, name string) (manager.Snapshot, error)
	DeleteSnapshot(ctx context.Context, name string) error
	Fork(ctx context.Context, id string, count int) ([]string, error)
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
}

// Observer receives request and tool-call measurements (metrics).
type Observer interface {
	Request(route, method string, code int, d time.Duration)
	Tool(tool, status, verdict string, d time.Duration, outputBytes int)
	// Streamed counts a tool call answered as an event stream (route).
	Streamed(route string)
	// ProcessStarted counts a background process started.
	ProcessStarted()
	// Terminal reports a terminal opened (+1) or closed (-1).
	Terminal(delta int)
}

// Options configure the server.
type Options struct {
	Version string
	// APIKeys are the accepted keys (several during a rotation); none: no
	// auth.
	APIKeys      []string
	MaxBodyBytes int64
	MaxArchive   int64
	// MaxInflightBytes bounds the request bodies held in memory at once
	// (large ones wait, then 503); 0: 4 × MaxBodyBytes.
	MaxInflightBytes int64
	// SandboxTypes returns the accepted sandbox_type values.
	SandboxTypes func() []string
	// Metrics serves /metrics on the main listener; nil when it is served
	// elsewhere (--metrics-addr).
	Metrics     http.Handler
	CORSOrigins []string
	// Calls reads the tool-call counters for GET /stats/calls (nil: zeros).
	Calls func() metrics.CallTotals
	// MCP serves /mcp (internal/mcpserver); nil: the routes answer 404.
	MCP http.Handler
	// PublicOpenAPI serves GET /openapi.json without a key.
	PublicOpenAPI bool
	Observer      Observer
	Logger        *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	m       Manager
	opts    Options
	mux     *http.ServeMux
	admit   *admission
	started time.Time
	handler http.Handler // the middleware chain around mux
}

// New builds the server and its routes.
func New(m Manager, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 20
	}
	if opts.MaxArchive <= 0 {
		opts.MaxArchive = 1 << 30
	}
	if opts.MaxInflightBytes <= 0 {
		opts.MaxInflightBytes = 4 * opts.MaxBodyBytes
	}
	s := &Server{m: m, opts: opts, mux: http.NewServeMux(), started: time.Now(), admit: newAdmission(max(opts.MaxInflightBytes, opts.MaxBodyBytes))}
	keys := newKeyring(opts.APIKeys)
	public := http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.handle(rt))
		if rt.doc.public {
			public.Handle(rt.pattern, http.NotFoundHandler())
		}
	}
	s.handler = chain(jsonNotRouted(s.mux),
		observe(opts.Observer, opts.Logger), recoverPanics(opts.Logger), cors(opts.CORSOrigins, keys.authorized),
		requireKey(keys, public), cleanPaths)
	return s
}

// apiFunc is a handler that returns an error instead of writing one.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// handle wraps a route: body limit and error rendering.
func (s *Server) handle(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.opts.MaxBodyBytes
		if rt.archive {
			limit = s.opts.MaxArchive
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		err := error(nil)
		if !rt.archive && !rt.raw { // archives stream through; JSON bodies are read whole
			var release func()
			if release, err = s.admit.admit(r, limit); err == nil {
				defer release()
			}
		}
		if err == nil {
			err = rt.h(w, r)
		}
		if err != nil {
			status, detail := toHTTP(err)
			if status >= 500 {
				s.opts.Logger.Error("request failed", "route", rt.pattern, "err", err)
			}
			writeJSON(w, status, map[string]any{"detail": detail})
		}
	})
}

// ServeHTTP serves the API through its middleware chain (middleware.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := pyjson.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
