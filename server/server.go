// Package server is enclave's HTTP API (the ms-enclave contract) on the
// standard library's ServeMux. It holds no sandbox logic: handlers decode
// requests, call the manager and encode responses.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
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
}

// Observer receives request and tool-call measurements (metrics).
type Observer interface {
	Request(route, method string, code int, d time.Duration)
	Tool(tool, status, verdict string, d time.Duration, outputBytes int)
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
	Observer    Observer
	Logger      *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	m       Manager
	opts    Options
	mux     *http.ServeMux
	admit   *admission
	started time.Time
	keys    [][32]byte // SHA-256 of each accepted key
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
	for _, k := range opts.APIKeys {
		s.keys = append(s.keys, sha256.Sum256([]byte(k)))
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.handle(rt))
	}
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
		if !rt.archive { // archives stream through; JSON bodies are read whole
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
			if status >= 500 && status != http.StatusNotImplemented {
				s.opts.Logger.Error("request failed", "route", rt.pattern, "err", err)
			}
			writeJSON(w, status, map[string]any{"detail": detail})
		}
	})
}

// ServeHTTP applies recovery, logging, auth and JSON 404/405 around the mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.opts.Logger.Error("panic", "err", v, "stack", string(debug.Stack()))
			if !rec.wrote {
				writeJSON(rec, http.StatusInternalServerError, map[string]any{"detail": "Internal Server Error"})
			}
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		if s.opts.Observer != nil {
			s.opts.Observer.Request(route, r.Method, rec.code, d)
		}
		attrs := []any{"method", r.Method, "route", route, "status", rec.code, "duration_ms", float64(d.Microseconds()) / 1000}
		if id := r.PathValue("sandbox_id"); id != "" {
			attrs = append(attrs, "sandbox_id", id)
		} else if info.sandboxID != "" {
			attrs = append(attrs, "sandbox_id", info.sandboxID)
		}
		if info.tool != "" {
			attrs = append(attrs, "tool", info.tool)
		}
		s.opts.Logger.Info("request", attrs...)
	}()
	if s.cors(rec, r) {
		return
	}
	if !(r.URL.Path == "/healthz" && r.Method == http.MethodGet) && !s.authorized(r) {
		writeJSON(rec, http.StatusUnauthorized, map[string]any{"detail": "Unauthorized"})
		return
	}
	if !clean(r.URL.Path) {
		// The mux would redirect to the cleaned path with an HTML body; no
		// route has such a path (as in ms-enclave), and every answer is JSON.
		writeJSON(rec, http.StatusNotFound, map[string]any{"detail": "Not Found"})
		return
	}
	if h, pattern := s.mux.Handler(r); pattern == "" {
		s.notRouted(rec, r, h)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// clean reports whether p is already in the mux's canonical form.
func clean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// notRouted renders the mux's own 404/405/redirect answers as JSON.
func (s *Server) notRouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := httptest.NewRecorder()
	h.ServeHTTP(probe, r)
	switch probe.Code {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.Header().Get("Allow"))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
	default:
		// Including the mux's redirects of unclean paths (/sandbox/..):
		// no route has such a path, as in ms-enclave, and the answer is JSON.
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	}
}

// authorized checks the API key in constant time against every accepted
// key (no early exit); header wins over query.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.keys) == 0 {
		return true
	}
	key := r.Header.Get("X-API-Key")
	if key == "" {
		key = r.URL.Query().Get("api_key")
	}
	got := sha256.Sum256([]byte(key))
	ok := 0
	for _, k := range s.keys {
		ok |= subtle.ConstantTimeCompare(got[:], k[:])
	}
	return ok == 1
}

// cors adds CORS headers for allowed origins; it answers a preflight that
// carries a valid key (auth applies to preflights too).
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.opts.CORSOrigins) == 0 {
		return false
	}
	allowed := false
	for _, o := range s.opts.CORSOrigins {
		allowed = allowed || o == "*" || o == origin
	}
	if !allowed {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if !s.authorized(r) {
			return false
		}
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, X-API-Key")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// requestInfo carries what handlers learn from a body into the request log.
type requestInfo struct{ sandboxID, tool string }

type requestInfoKey struct{}

func annotate(r *http.Request, sandboxID, tool string) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.sandboxID, info.tool = sandboxID, tool
	}
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := pyjson.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
