package mcpserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/pyjson"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// fakeManager keeps sandboxes in memory; python_executor echoes its code.
type fakeManager struct {
	mu      sync.Mutex
	next    int
	live    map[string]bool
	deleted []string
}

func (f *fakeManager) Create(_ context.Context, _ string, _ json.RawMessage) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := strings.Repeat("s", 7) + string(rune('0'+f.next))
	f.live[id] = true
	return id, nil
}

func (f *fakeManager) Get(id string) (manager.SandboxInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return manager.SandboxInfo{ID: id, Status: "running", Tools: pyjson.Ordered{{Key: "python_executor"}}}, f.live[id]
}

func (f *fakeManager) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, id)
	f.deleted = append(f.deleted, id)
	return nil
}

func (f *fakeManager) Execute(ctx context.Context, id, name string, params json.RawMessage) (manager.Result, error) {
	var p struct{ Code string }
	json.Unmarshal(params, &p)
	return manager.Result{Result: tool.Result{Status: "success", Output: "ran " + p.Code}, ToolName: name}, nil
}

func (f *fakeManager) PoolExecute(ctx context.Context, name string, params json.RawMessage, _ float64) (manager.Result, error) {
	return f.Execute(ctx, "pool", name, params)
}

func (f *fakeManager) PutArchive(context.Context, string, string, io.Reader) error { return nil }
func (f *fakeManager) GetArchive(context.Context, string, string, io.Writer) error { return nil }

const pySchema = `{"type":"function","function":{"name":"python_executor","description":"Run Python","parameters":{"type":"object","properties":{"code":{"type":"string"}},"required":["code"],"additionalProperties":false}}}`

func serve(t *testing.T) (*fakeManager, string) {
	f := &fakeManager{live: map[string]bool{}}
	h := Handler(f, Options{Version: "test", Tools: func() []ToolSchema {
		return []ToolSchema{{Name: "python_executor", Schema: json.RawMessage(pySchema)}}
	}})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return f, ts.URL
}

func connect(t *testing.T, url string) *mcp.ClientSession {
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func call(t *testing.T, s *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func TestSessionsOwnTheirSandboxes(t *testing.T) {
	f, url := serve(t)
	a, b := connect(t, url), connect(t, url)
	defer b.Close()
	res := call(t, a, "create_sandbox", map[string]any{})
	id := res.StructuredContent.(map[string]any)["sandbox_id"].(string)
	tests := []struct {
		name    string
		s       *mcp.ClientSession
		tool    string
		args    map[string]any
		isError bool
	}{
		{"own sandbox", a, "python_executor", map[string]any{"sandbox_id": id, "code": "x"}, false},
		{"another session's", b, "python_executor", map[string]any{"sandbox_id": id, "code": "x"}, true},
		{"another session deletes", b, "delete_sandbox", map[string]any{"sandbox_id": id}, true},
		{"another session reads", b, "read_file", map[string]any{"sandbox_id": id, "path": "/etc/hostname"}, true},
		{"no sandbox_id", a, "python_executor", map[string]any{"code": "x"}, true},
		{"pool", b, "pool_python_executor", map[string]any{"code": "y"}, false},
	}
	for _, tt := range tests {
		res := call(t, tt.s, tt.tool, tt.args)
		if res.IsError != tt.isError {
			t.Errorf("%s: isError %v, want %v (%+v)", tt.name, res.IsError, tt.isError, res.Content)
		}
	}
	list := call(t, b, "list_sandboxes", map[string]any{}).StructuredContent.(map[string]any)["sandboxes"].([]any)
	if len(list) != 0 {
		t.Errorf("another session lists %v", list)
	}
	// The session's end deletes its sandbox.
	a.Close()
	for range 100 {
		f.mu.Lock()
		done := !f.live[id]
		f.mu.Unlock()
		if done {
			return
		}
		b.Ping(context.Background(), nil) // a bounded wait: each ping is a round trip
	}
	t.Errorf("sandbox %s outlived its session", id)
}

func TestToolSchemas(t *testing.T) {
	_, url := serve(t)
	s := connect(t, url)
	defer s.Close()
	res, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*mcp.Tool{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	in, _ := json.Marshal(byName["python_executor"].InputSchema)
	if !strings.Contains(string(in), `"required":["sandbox_id","code"]`) || !strings.Contains(string(in), `"sandbox_id"`) {
		t.Errorf("python_executor schema %s", in)
	}
	pool, _ := json.Marshal(byName["pool_python_executor"].InputSchema)
	if strings.Contains(string(pool), "sandbox_id") || !strings.Contains(string(pool), `"code"`) {
		t.Errorf("pool_python_executor schema %s", pool)
	}
	for _, n := range []string{"create_sandbox", "list_sandboxes", "delete_sandbox", "read_file", "write_file"} {
		if byName[n] == nil {
			t.Errorf("%s missing", n)
		}
	}
}

func TestBadJSONRPC(t *testing.T) {
	_, url := serve(t)
	tests := []struct {
		name, body string
		code       int
	}{
		{"not JSON", `{nope`, codeParse},
		{"a batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, codeInvalidRequest},
		{"a string", `"hi"`, codeInvalidRequest},
		{"no version", `{"id":1,"method":"ping"}`, codeInvalidRequest},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":7}`, codeInvalidRequest},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, codeInvalidRequest},
		{"nothing", `{"jsonrpc":"2.0","id":1}`, codeInvalidRequest},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("POST", url, strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			JSONRPC string `json:"jsonrpc"`
			Error   struct{ Code int }
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if json.Unmarshal(b, &e) != nil || e.JSONRPC != "2.0" || e.Error.Code != tt.code || resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want a JSON-RPC error %d", tt.name, resp.StatusCode, b, tt.code)
		}
	}
}

func FuzzCheckMessage(f *testing.F) {
	for _, s := range []string{`{"jsonrpc":"2.0","id":1,"method":"ping"}`, `{"jsonrpc":"2.0","id":"a","result":{}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`, `[]`, `{`, `null`, `{"jsonrpc":"2.0","id":1e400,"method":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, id, msg := checkMessage(b)
		if code == 0 {
			// What passes is one JSON-RPC object with version 2.0.
			var m map[string]json.RawMessage
			var version string
			if json.Unmarshal(b, &m) != nil || json.Unmarshal(m["jsonrpc"], &version) != nil || version != "2.0" {
				t.Fatalf("passed %q", b)
			}
			return
		}
		if msg == "" || (len(id) > 0 && !validID(id)) {
			t.Fatalf("code %d id %q msg %q for %q", code, id, msg, b)
		}
		w := httptest.NewRecorder()
		rpcError(w, 400, id, code, msg)
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("error body not JSON: %s", w.Body)
		}
	})
}
