package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/mcpserver"
	"github.com/enclave-sandbox/enclave/server"
)

// FuzzRequests sends arbitrary paths, queries and bodies to every route:
// the answer is always a JSON object (a {"detail": ...} one on errors) with
// a status of the contract, never a 5xx.
func FuzzRequests(f *testing.F) {
	m := manager.New(manager.DefaultOptions(), plugins{fake.NewBackend()}, newExec(manager.DefaultOptions()))
	m.Start(context.Background())
	defer m.Shutdown(context.Background(), false)
	h := server.New(m, server.Options{Version: "fuzz", MaxBodyBytes: 1 << 16, MCP: mcpserver.Handler(m, mcpserver.Options{})})
	id, _ := m.Create(context.Background(), "docker", json.RawMessage(`{"tools_config":["echo"]}`))
	seeds := []struct{ method, path, body string }{
		{"POST", "/sandbox/create?sandbox_type=docker", `{"memory_limit":"0","cpu_limit":99,"disk_limit":"1g","entrypoint":[]}`},
		{"POST", "/sandbox/create?sandbox_type=docker", `{"working_dir":"","volumes":{"/":{"bind":"/x"}}}`},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"` + id + `","tool_name":"echo","parameters":{"text":"x"}}`},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":1,"tool_name":null}`},
		{"POST", "/pool/initialize?pool_size=-1", `[]`},
		{"POST", "/pool/execute?tool_name=echo&timeout=nan", `{}`},
		{"POST", "/sandbox/" + id + "/archive?target_dir=/tmp", "not a tar"},
		{"GET", "/sandbox/..", ""},
		{"GET", "/sandboxes?status=%ff", ""},
		{"POST", "/sandbox/tool/execute?stream=true", `{"sandbox_id":"` + id + `","tool_name":"echo","parameters":{"text":"x"}}`},
		{"POST", "/sandbox/" + id + "/processes", `{"command":["sleep","1"],"env":{"A":"b"},"timeout":2}`},
		{"POST", "/sandbox/" + id + "/processes", `{"command":"","stdin":1}`},
		{"GET", "/sandbox/" + id + "/processes/p1/output?offset=-5&limit=x", ""},
		{"POST", "/sandbox/" + id + "/processes/p1/signal", `{"signal":"SIGSEGV"}`},
		{"POST", "/sandbox/" + id + "/processes/p1/wait?timeout=1e99", ""},
		{"GET", "/sandbox/" + id + "/terminal?rows=0&cols=99999", ""},
		{"POST", "/sandbox/" + id + "/keepalive", `{"timeout":1e308}`},
		{"GET", "/openapi.json", ""},
		{"GET", "/stats/calls", ""},
		{"GET", "/docs", ""},
		{"GET", "/assets/../../etc/passwd", ""},
		{"GET", "/assets/vendor/.stamp", ""},
		{"GET", "/assets/console.js", ""},
		{"POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}`},
		{"POST", "/mcp", `{"jsonrpc":"2.0","id":{},"method":"tools/call"}`},
		{"DELETE", "/mcp", ""},
		{"DELETE", "/sandbox/" + id, ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body)
	}
	methods := map[string]bool{"GET": true, "POST": true, "DELETE": true, "PUT": true, "OPTIONS": true}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !methods[method] || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		req, err := http.NewRequest(method, "http://enclave"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 500 && res.StatusCode != http.StatusNotImplemented {
			t.Fatalf("%s %s %q: %d %s", method, path, body, res.StatusCode, b)
		}
		ct := res.Header.Get("Content-Type")
		known := false
		for _, p := range []string{"application/json", "application/x-tar", "text/plain", "text/event-stream", "text/html", "text/javascript", "text/css"} {
			known = known || strings.HasPrefix(ct, p)
		}
		if !known && res.StatusCode != http.StatusAccepted && res.StatusCode != http.StatusNoContent {
			t.Fatalf("%s %s: content type %q", method, path, ct)
		}
		// /mcp answers in MCP's transport's terms (JSON-RPC errors).
		if res.StatusCode >= 400 && !strings.HasPrefix(req.URL.Path, "/mcp") {
			var e struct {
				Detail json.RawMessage `json:"detail"`
			}
			if json.Unmarshal(b, &e) != nil || len(e.Detail) == 0 {
				t.Fatalf("%s %s: error body %q is not {\"detail\": ...}", method, path, b)
			}
		}
	})
}
