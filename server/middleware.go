package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"
)

// A middleware wraps a handler with one concern. ServeHTTP runs the chain
// built in New, outermost first:
//
//	observe → recoverPanics → cors → requireKey → cleanPaths → jsonNotRouted → mux
type middleware func(http.Handler) http.Handler

// chain applies middlewares so that the first one is the outermost.
func chain(h http.Handler, ms ...middleware) http.Handler {
	for i := len(ms) - 1; i >= 0; i-- {
		h = ms[i](h)
	}
	return h
}

// observe records every request once it is answered: the metrics observer
// and one log line (route pattern, status, duration, sandbox id and tool).
// It carries a requestInfo down for handlers to fill in.
func observe(obs Observer, log *slog.Logger) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
			info := &requestInfo{}
			r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
			defer func() {
				// The mux sets r.Pattern on this request (no middleware
				// below copies it).
				route := r.Pattern
				if route == "" {
					route = "unmatched"
				}
				d := time.Since(start)
				if obs != nil {
					obs.Request(route, r.Method, rec.code, d)
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
				log.Info("request", attrs...)
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// recoverPanics turns a handler's panic into a JSON 500 (when nothing was
// written yet) and a log line with the stack; the server goes on.
func recoverPanics(log *slog.Logger) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, ok := w.(*statusWriter)
			if !ok {
				rec = &statusWriter{ResponseWriter: w, code: http.StatusOK}
			}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic", "err", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					writeJSON(rec, http.StatusInternalServerError, map[string]any{"detail": "Internal Server Error"})
				}
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// cors adds CORS headers for allowed origins and answers a preflight that
// carries a valid key (auth applies to preflights too).
func cors(origins []string, authorized func(*http.Request) bool) middleware {
	return func(next http.Handler) http.Handler {
		if len(origins) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			allowed := false
			for _, o := range origins {
				allowed = allowed || o == "*" || o == origin
			}
			if origin == "" || !allowed {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" && authorized(r) {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type, X-API-Key")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// keyring holds the accepted API keys as SHA-256 digests.
type keyring [][32]byte

func newKeyring(keys []string) keyring {
	var k keyring
	for _, key := range keys {
		k = append(k, sha256.Sum256([]byte(key)))
	}
	return k
}

// authorized checks the request's key (header X-API-Key, else query
// api_key) in constant time against every accepted key, with no early exit.
// No keys: everything is authorized.
func (k keyring) authorized(r *http.Request) bool {
	if len(k) == 0 {
		return true
	}
	key := r.Header.Get("X-API-Key")
	if key == "" {
		key = r.URL.Query().Get("api_key")
	}
	got := sha256.Sum256([]byte(key))
	ok := 0
	for _, want := range k {
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1
}

// requireKey answers 401 to a request without an accepted key, but for the
// routes in public (GET /healthz, a liveness probe; the pages, which ask
// for the key themselves).
func requireKey(k keyring, public *http.ServeMux) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, pattern := public.Handler(r); pattern == "" && !k.authorized(r) {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Unauthorized"})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// cleanPaths answers JSON 404 for a path not in canonical form (the mux
// would redirect with an HTML body; no route has such a path, as in
// ms-enclave, and every answer is JSON).
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !clean(r.URL.Path) {
			writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clean reports whether p is already in the mux's canonical form.
func clean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// jsonNotRouted renders the mux's own answers to requests no route matches
// (404, 405 with Allow, redirects) as JSON.
func jsonNotRouted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Ask the mux's handler what it would answer, without its body.
		probe := &headerProbe{header: http.Header{}, code: http.StatusOK}
		h.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	})
}

// headerProbe is a ResponseWriter that keeps the status and headers and
// drops the body.
type headerProbe struct {
	header http.Header
	code   int
	wrote  bool
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) WriteHeader(code int) {
	if !p.wrote {
		p.code, p.wrote = code, true
	}
}

func (p *headerProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// requestInfo carries what handlers learn from a body into the request log.
type requestInfo struct{ sandboxID, tool string }

type requestInfoKey struct{}

func annotate(r *http.Request, sandboxID, tool string) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.sandboxID, info.tool = sandboxID, tool
	}
}

// statusWriter remembers the status written, for the log and metrics.
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
