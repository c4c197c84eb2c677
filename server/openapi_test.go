package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/internal/apicheck"
	"github.com/enclave-sandbox/enclave/server"
)

func TestOpenAPIDocument(t *testing.T) {
	ts := newServer(t, server.Options{APIKeys: []string{"k"}})
	code, _, _ := do(t, ts, "GET", "/openapi.json", "")
	if code != http.StatusUnauthorized {
		t.Fatalf("openapi.json without the key: %d", code)
	}
	code, hdr, body := do(t, ts, "GET", "/openapi.json", "", "X-API-Key", "k")
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %d %s", code, hdr.Get("Content-Type"))
	}
	doc, err := apicheck.Load(context.Background(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	if u := server.Undocumented(server.New(nil, server.Options{})); len(u) > 0 {
		t.Errorf("routes without documentation: %v", u)
	}
	for _, pattern := range server.RoutePatterns(server.New(nil, server.Options{})) {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.ReplaceAll(path, "...}", "}")
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s is not in the document", pattern)
			continue
		}
		o := item.GetOperation(method)
		if o.Summary == "" || o.Responses.Value("500") == nil {
			t.Errorf("%s: no summary or no error answers", pattern)
		}
		public := map[string]bool{"/healthz": true, "/docs": true, "/redoc": true, "/ui": true, "/assets/{path}": true}
		if public[path] != (o.Security != nil && len(*o.Security) == 0) {
			t.Errorf("%s: security %v", pattern, o.Security)
		}
	}
	if doc.Components.SecuritySchemes["apiKeyHeader"] == nil || doc.Components.SecuritySchemes["apiKeyQuery"] == nil {
		t.Error("the key schemes are missing")
	}
	// A server without keys documents none.
	open := newServer(t, server.Options{})
	_, _, body = do(t, open, "GET", "/openapi.json", "")
	if strings.Contains(body, "apiKeyHeader") {
		t.Error("a server without keys documents a key")
	}
}

// TestOpenAPITraffic sends good and bad requests through the checker: the
// fake backend's answers must all be on the document.
func TestOpenAPITraffic(t *testing.T) {
	ts := newServer(t, server.Options{APIKeys: []string{"k"}})
	c := apicheck.New(nil)
	if err := c.Register(context.Background(), ts.URL, "k"); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: c}
	send := func(method, path, body string, hdr ...string) (int, string) {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("X-API-Key", "k")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := send("POST", "/sandbox/create?sandbox_type=docker", `{"tools_config":{"echo":{}}}`)
	if code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(body, `{"sandbox_id":"`), `"}`)
	for _, tt := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/health", "", 200},
		{"GET", "/healthz", "", 200},
		{"GET", "/stats", "", 200},
		{"GET", "/sandboxes", "", 200},
		{"GET", "/sandboxes?status=running", "", 200},
		{"GET", "/sandboxes?status=nope", "", 422},
		{"GET", "/sandbox/" + id, "", 200},
		{"GET", "/sandbox/nope", "", 404},
		{"GET", "/sandbox/" + id + "/tools", "", 200},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"` + id + `","tool_name":"echo","parameters":{"text":"hi"}}`, 200},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"` + id + `"}`, 422},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":`, 422},
		{"POST", "/sandbox/tool/execute", `{"sandbox_id":"nope","tool_name":"echo","parameters":{}}`, 404},
		{"POST", "/sandbox/create", `{}`, 422},
		{"POST", "/sandbox/create?sandbox_type=docker", `[1]`, 422},
		{"POST", "/pool/execute", `{}`, 422},
		{"GET", "/no/such/route", "", 404},
		{"PUT", "/sandboxes", "", 405},
		{"POST", "/sandbox/" + id + "/stop", "", 200},
		{"DELETE", "/sandbox/" + id, "", 200},
	} {
		if code, body := send(tt.method, tt.path, tt.body); code != tt.code {
			t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, code, body, tt.code)
		}
	}
	for _, f := range c.Failures(ts.URL) {
		t.Error(f)
	}
	if c.Checked() < 20 {
		t.Errorf("%d exchanges checked", c.Checked())
	}
}

// TestOpenAPICheckerCatches proves the checker fails an answer off the
// document: a handler that answers a field of the wrong type.
func TestOpenAPICheckerCatches(t *testing.T) {
	ts := newServer(t, server.Options{})
	c := apicheck.New(nil)
	if err := c.Register(context.Background(), ts.URL, ""); err != nil {
		t.Fatal(err)
	}
	// The document says 200 /healthz is {"ok": boolean}; forge a server that
	// answers a string through the same document.
	forged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":"yes"}`))
	})
	fts := newForged(t, forged)
	c.Alias(fts.URL, ts.URL)
	resp, err := (&http.Client{Transport: c}).Get(fts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if f := c.Failures(fts.URL); len(f) != 1 {
		t.Errorf("failures %q, want one", f)
	}
}

func newForged(t *testing.T, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}
