package server

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serve(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })

func TestChainOrder(t *testing.T) {
	var got []string
	mark := func(name string) middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = append(got, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	serve(chain(ok, mark("a"), mark("b"), mark("c")), "GET", "/")
	if strings.Join(got, "") != "abc" {
		t.Errorf("order %v, want a b c (first is outermost)", got)
	}
}

type seen struct {
	route, method string
	code          int
}

type recordObs struct{ reqs []seen }

func (o *recordObs) Request(route, method string, code int, _ time.Duration) {
	o.reqs = append(o.reqs, seen{route, method, code})
}
func (o *recordObs) Tool(string, string, string, time.Duration, int) {}
func (o *recordObs) Streamed(string)                                 {}
func (o *recordObs) ProcessStarted()                                 {}
func (o *recordObs) Terminal(int)                                    {}

func TestObserve(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sandbox/tool/execute", func(w http.ResponseWriter, r *http.Request) {
		annotate(r, "sb1", "echo")
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /sandbox/{sandbox_id}", func(w http.ResponseWriter, r *http.Request) {})
	var logs bytes.Buffer
	obs := &recordObs{}
	h := observe(obs, slog.New(slog.NewTextHandler(&logs, nil)))(mux)
	serve(h, "POST", "/sandbox/tool/execute")
	serve(h, "GET", "/sandbox/abc")
	serve(h, "GET", "/nowhere")
	want := []seen{{"POST /sandbox/tool/execute", "POST", 202}, {"GET /sandbox/{sandbox_id}", "GET", 200}, {"unmatched", "GET", 404}}
	if len(obs.reqs) != len(want) {
		t.Fatalf("observed %v, want %v", obs.reqs, want)
	}
	for i := range want {
		if obs.reqs[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, obs.reqs[i], want[i])
		}
	}
	for _, part := range []string{"sandbox_id=sb1 tool=echo", "sandbox_id=abc", "route=unmatched"} {
		if !strings.Contains(logs.String(), part) {
			t.Errorf("log lacks %q:\n%s", part, logs.String())
		}
	}
}

func TestRecoverPanics(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	panicky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	w := serve(recoverPanics(log)(panicky), "GET", "/")
	if w.Code != 500 || w.Body.String() != `{"detail":"Internal Server Error"}` {
		t.Errorf("panic answered %d %s", w.Code, w.Body)
	}
	late := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		panic("late")
	})
	if w := serve(recoverPanics(log)(late), "GET", "/"); w.Code != 200 || w.Body.String() != "partial" {
		t.Errorf("a panic after the answer began must not write again: %d %q", w.Code, w.Body)
	}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("ErrAbortHandler recovered as %v, want it re-panicked", v)
		}
	}()
	serve(recoverPanics(log)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })), "GET", "/")
}

func TestRequireKey(t *testing.T) {
	tests := []struct {
		name   string
		keys   []string
		method string
		target string
		hdr    []string
		code   int
	}{
		{"no keys configured", nil, "GET", "/stats", nil, 418},
		{"header key", []string{"a", "b"}, "GET", "/stats", []string{"X-API-Key", "b"}, 418},
		{"query key", []string{"a"}, "GET", "/stats?api_key=a", nil, 418},
		{"wrong key", []string{"a"}, "GET", "/stats", []string{"X-API-Key", "x"}, 401},
		{"no key", []string{"a"}, "GET", "/stats", nil, 401},
		{"header wins over query", []string{"a"}, "GET", "/stats?api_key=a", []string{"X-API-Key", "x"}, 401},
		{"liveness needs none", []string{"a"}, "GET", "/healthz", nil, 418},
		{"only GET /healthz is open", []string{"a"}, "POST", "/healthz", nil, 401},
	}
	public := http.NewServeMux()
	public.Handle("GET /healthz", http.NotFoundHandler())
	for _, tt := range tests {
		w := serve(requireKey(newKeyring(tt.keys), public)(ok), tt.method, tt.target, tt.hdr...)
		if w.Code != tt.code {
			t.Errorf("%s: %d, want %d", tt.name, w.Code, tt.code)
		}
		if w.Code == 401 && w.Body.String() != `{"detail":"Unauthorized"}` {
			t.Errorf("%s: body %s", tt.name, w.Body)
		}
	}
}

func TestCORSMiddleware(t *testing.T) {
	h := cors([]string{"https://app.example"}, newKeyring([]string{"k"}).authorized)(ok)
	tests := []struct {
		name        string
		method      string
		hdr         []string
		code        int
		allowOrigin string
	}{
		{"no origin", "GET", nil, 418, ""},
		{"allowed origin", "GET", []string{"Origin", "https://app.example"}, 418, "https://app.example"},
		{"other origin", "GET", []string{"Origin", "https://evil.example"}, 418, ""},
		{"preflight with key", "OPTIONS", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "GET", "X-API-Key", "k"}, 204, "https://app.example"},
		{"preflight without key goes on (to the 401)", "OPTIONS", []string{"Origin", "https://app.example", "Access-Control-Request-Method", "GET"}, 418, "https://app.example"},
	}
	for _, tt := range tests {
		w := serve(h, tt.method, "/stats", tt.hdr...)
		if w.Code != tt.code || w.Header().Get("Access-Control-Allow-Origin") != tt.allowOrigin {
			t.Errorf("%s: %d allow-origin %q, want %d %q", tt.name, w.Code, w.Header().Get("Access-Control-Allow-Origin"), tt.code, tt.allowOrigin)
		}
	}
	if w := serve(cors(nil, nil)(ok), "GET", "/", "Origin", "https://app.example"); w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("no origins configured, yet CORS headers")
	}
}

func TestCleanPaths(t *testing.T) {
	for _, tt := range []struct {
		path string
		code int
	}{{"/stats", 418}, {"/sandbox/x/", 418}, {"/", 418}, {"/sandbox/..", 404}, {"//sandboxes", 404}, {"/a/./b", 404}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = tt.path
		w := httptest.NewRecorder()
		cleanPaths(ok).ServeHTTP(w, r)
		if w.Code != tt.code {
			t.Errorf("%s: %d, want %d", tt.path, w.Code, tt.code)
		}
	}
}

func TestJSONNotRouted(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /stats", ok)
	mux.Handle("DELETE /stats", ok)
	h := jsonNotRouted(mux)
	tests := []struct {
		method, path string
		code         int
		body, allow  string
	}{
		{"GET", "/stats", 418, "", ""},
		{"GET", "/nope", 404, `{"detail":"Not Found"}`, ""},
		{"PUT", "/stats", 405, `{"detail":"Method Not Allowed"}`, "DELETE, GET, HEAD"},
	}
	for _, tt := range tests {
		w := serve(h, tt.method, tt.path)
		if w.Code != tt.code || w.Body.String() != tt.body || w.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d %s Allow=%q, want %d %s %q", tt.method, tt.path, w.Code, w.Body, w.Header().Get("Allow"), tt.code, tt.body, tt.allow)
		}
	}
}
