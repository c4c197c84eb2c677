package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/server"
)

type plugins struct{ b *fake.Backend }

func (p plugins) Backend(t string) (backend.Backend, bool) { return p.b, t == "docker" }
func (p plugins) Tool(name string) (manager.Tool, bool)    { return fake.Echo{}, name == "echo" }
func (p plugins) Backends() []backend.Backend              { return []backend.Backend{p.b} }

// newExec is the executor a manager with opts gets from cmd/enclave.
func newExec(o manager.Options) *executor.Executor {
	return executor.New(executor.Options{StartTimeout: o.StartTimeout, MaxDuration: o.ExecMaxDuration, MaxOutputBytes: o.MaxOutputBytes})
}

func newServer(t *testing.T, opts server.Options) *httptest.Server {
	m := manager.New(manager.DefaultOptions(), plugins{fake.NewBackend()}, newExec(manager.DefaultOptions()))
	m.Start(context.Background())
	t.Cleanup(func() { m.Shutdown(context.Background(), false) })
	if opts.Version == "" {
		opts.Version = "test"
	}
	ts := httptest.NewServer(server.New(m, opts))
	t.Cleanup(ts.Close)
	return ts
}

func do(t *testing.T, ts *httptest.Server, method, path, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestErrorsAreJSON(t *testing.T) {
	ts := newServer(t, server.Options{MaxBodyBytes: 256})
	_, _, body := do(t, ts, "POST", "/sandbox/create?sandbox_type=docker", `{"tools_config":["echo"]}`)
	id := strings.TrimSuffix(strings.TrimPrefix(body, `{"sandbox_id":"`), `"}`)
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"unknown route", "GET", "/x/y", "", 404, `{"detail":"Not Found"}`},
		{"wrong method", "PUT", "/stats", "", 405, `{"detail":"Method Not Allowed"}`},
		{"panic in a tool", "POST", "/sandbox/tool/execute", `{"sandbox_id":"` + id + `","tool_name":"echo","parameters":{"text":"panic"}}`, 500, `{"detail":"Internal Server Error"}`},
		{"body too large", "POST", "/sandbox/create?sandbox_type=docker", `{"image":"` + strings.Repeat("a", 300) + `"}`, 413, `{"detail":"Request body too large"}`},
		{"html not escaped", "POST", "/sandbox/tool/execute", `{"sandbox_id":"` + id + `","tool_name":"echo","parameters":{"text":"<a&b>"}}`, 200, `"output":"<a&b>"`},
		{"pool before initialize", "POST", "/pool/execute?tool_name=echo", `{"text":"x"}`, 400, `{"detail":"Sandbox pool is empty, call initialize_pool first"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := do(t, ts, tt.method, tt.path, tt.body)
			if code != tt.code || !strings.Contains(body, tt.want) || h.Get("Content-Type") != "application/json" {
				t.Errorf("%d %s (%s), want %d %s", code, body, h.Get("Content-Type"), tt.code, tt.want)
			}
		})
	}
}

func TestToolResultShape(t *testing.T) {
	ts := newServer(t, server.Options{})
	_, _, body := do(t, ts, "POST", "/sandbox/create?sandbox_type=docker", `{"tools_config":["echo"]}`)
	id := strings.TrimSuffix(strings.TrimPrefix(body, `{"sandbox_id":"`), `"}`)
	_, _, body = do(t, ts, "POST", "/sandbox/tool/execute", `{"sandbox_id":"`+id+`","tool_name":"echo","parameters":{"text":"hé"},"timeout":5.0,"extra":1}`)
	for _, part := range []string{`{"status":"success","execution_time":`, `,"timestamp":"`, `","tool_name":"echo","output":"hé","metadata":{"exit_code":0,"duration_ms":`, `},"error":null}`} {
		if !strings.Contains(body, part) {
			t.Errorf("result %s lacks %s", body, part)
		}
	}
}

func TestCORS(t *testing.T) {
	ts := newServer(t, server.Options{CORSOrigins: []string{"https://app.example"}, APIKeys: []string{"k"}})
	code, h, _ := do(t, ts, "OPTIONS", "/stats", "", "Origin", "https://app.example", "Access-Control-Request-Method", "GET", "X-API-Key", "k")
	if code != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("preflight = %d %v", code, h)
	}
	code, h, _ = do(t, ts, "GET", "/stats", "", "Origin", "https://evil.example", "X-API-Key", "k")
	if code != 200 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin = %d, allow-origin %q", code, h.Get("Access-Control-Allow-Origin"))
	}
	if code, _, _ := do(t, ts, "OPTIONS", "/stats", "", "Origin", "https://app.example", "Access-Control-Request-Method", "GET"); code != 401 {
		t.Errorf("preflight without key = %d, want 401", code)
	}
}

// TestSnapshotRoutes: the new routes' answers and refusals over HTTP (the
// fake backend; e2e/snapshots_test.go runs them on Podman).
func TestSnapshotRoutes(t *testing.T) {
	ts := newServer(t, server.Options{})
	const j = "application/json"
	_, _, body := do(t, ts, "POST", "/sandbox/create?sandbox_type=docker", `{"tools_config":["echo"]}`, "Content-Type", j)
	id := strings.Split(body, `"`)[3]
	tests := []struct {
		method, path, body string
		want               int
		has                string
	}{
		{"POST", "/sandbox/" + id + "/snapshot", `{"name":"s1","labels":{"k":"v"}}`, 200, `"name":"s1"`},
		{"POST", "/sandbox/" + id + "/snapshot", `{"name":"s1"}`, 409, "already exists"},
		{"POST", "/sandbox/" + id + "/snapshot", `{"name":"a b"}`, 422, "string_pattern_mismatch"},
		{"POST", "/sandbox/nosuchsb/snapshot", `{}`, 404, "not found"},
		{"GET", "/snapshots?label=k=v", ``, 200, `"labels":{"k":"v"}`},
		{"GET", "/snapshots?label=novalue", ``, 422, "key=value"},
		{"GET", "/snapshots/s1", ``, 200, `"sandbox_id":"` + id + `"`},
		{"GET", "/snapshots/nosuch", ``, 404, "not found"},
		{"POST", "/sandbox/" + id + "/fork?count=0", ``, 422, "between 1 and 64"},
		{"POST", "/sandbox/" + id + "/fork?count=x", ``, 422, "int_parsing"},
		{"POST", "/sandbox/" + id + "/fork?count=2", ``, 200, `"sandbox_ids":["`},
		{"POST", "/sandbox/" + id + "/pause", ``, 200, `"paused":true`},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"` + id + `","tool_name":"echo","parameters":{"text":"x"}}`, 409, "is paused"},
		{"GET", "/sandbox/" + id, ``, 200, `"paused_at":`},
		{"POST", "/sandbox/" + id + "/resume", ``, 200, `"paused":false`},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"` + id + `","tool_name":"echo","parameters":{"text":"x"}}`, 200, `"status":"success"`},
		{"POST", "/sandbox/nosuchsb/pause", ``, 404, "not found"},
		{"DELETE", "/snapshots/s1", ``, 200, "Snapshot deleted successfully"},
		{"DELETE", "/snapshots/s1", ``, 404, "not found"},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"snapshot":"s1"}`, 400, "snapshot s1 not found"},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"snapshot":"../x"}`, 400, "must be a snapshot name"},
	}
	for _, tt := range tests {
		code, _, body := do(t, ts, tt.method, tt.path, tt.body, "Content-Type", j)
		if code != tt.want || !strings.Contains(body, tt.has) {
			t.Errorf("%s %s: %d %s; want %d with %q", tt.method, tt.path, code, body, tt.want, tt.has)
		}
	}
}
