package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/server"
)

func TestSandboxBatch(t *testing.T) {
	ts := newServer(t, server.Options{})
	_, _, body := do(t, ts, "POST", "/sandbox/create?sandbox_type=docker", `{"tools_config":["echo"]}`)
	id := strings.TrimSuffix(strings.TrimPrefix(body, `{"sandbox_id":"`), `"}`)
	batch := `{"sandbox_id":"` + id + `","concurrency":4,"calls":[
		{"tool_name":"echo","parameters":{"text":"a"}},
		{"tool_name":"nope","parameters":{}},
		{"tool_name":"echo","parameters":{"bogus":1}},
		{"tool_name":"echo","parameters":{"text":"slow","sleep":5},"timeout":0.05},
		{"tool_name":"echo","parameters":{"text":"d"}}]}`
	code, _, body := do(t, ts, "POST", "/sandbox/tool/execute_batch", batch)
	if code != 200 {
		t.Fatalf("batch: %d %s", code, body)
	}
	var out struct {
		Results []struct {
			Status, Output string
			Error          *string
			Metadata       struct {
				StatusCode int `json:"status_code"`
				Verdict    string
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Results) != 5 {
		t.Fatalf("%s: %v", body, err)
	}
	want := []struct {
		status, output string
		code           int
	}{{"success", "a", 0}, {"error", "", 404}, {"error", "", 422}, {"timeout", "", 0}, {"success", "d", 0}}
	for i, w := range want {
		r := out.Results[i]
		if r.Status != w.status || r.Metadata.StatusCode != w.code || (w.output != "" && r.Output != w.output) {
			t.Errorf("result %d: %+v, want %+v", i, r, w)
		}
	}
	// SSE: every index once, then done.
	_, hdr, stream := do(t, ts, "POST", "/sandbox/tool/execute_batch?stream=true", batch)
	if !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") || strings.Count(stream, "event: result") != 5 ||
		!strings.Contains(stream, `event: done`) || !strings.Contains(stream, `"count":5,"succeeded":2`) {
		t.Errorf("stream: %s", stream)
	}
	for i := range 5 {
		if !strings.Contains(stream, `{"index":`+string(rune('0'+i))+`,"result":`) {
			t.Errorf("stream lacks index %d", i)
		}
	}
}

func TestBatchValidation(t *testing.T) {
	ts := newServer(t, server.Options{})
	many := `{"calls":[` + strings.Repeat(`{"tool_name":"echo"},`, server.MaxBatchCalls) + `{"tool_name":"echo"}]}`
	tests := []struct {
		name, path, body string
		code             int
		loc              string
	}{
		{"no body", "/pool/execute_batch", ``, 422, `["body"]`},
		{"no calls", "/pool/execute_batch", `{"calls":[]}`, 422, `["body","calls"]`},
		{"too many", "/pool/execute_batch", many, 422, `["body","calls"]`},
		{"no tool", "/pool/execute_batch", `{"calls":[{"parameters":{}}]}`, 422, `["body","calls",0,"tool_name"]`},
		{"bad parameters", "/pool/execute_batch", `{"calls":[{"tool_name":"echo"},{"tool_name":"echo","parameters":[1]}]}`, 422, `["body","calls",1,"parameters"]`},
		{"bad timeout", "/pool/execute_batch", `{"calls":[{"tool_name":"echo","timeout":-1}]}`, 422, `["body","calls",0,"timeout"]`},
		{"bad concurrency", "/pool/execute_batch", `{"calls":[{"tool_name":"echo"}],"concurrency":65}`, 422, `["body","concurrency"]`},
		{"bad batch timeout", "/pool/execute_batch", `{"calls":[{"tool_name":"echo"}],"timeout":"x"}`, 422, `["body","timeout"]`},
		{"no sandbox", "/sandbox/tool/execute_batch", `{"calls":[{"tool_name":"echo"}]}`, 422, `["body","sandbox_id"]`},
		{"unknown sandbox", "/sandbox/tool/execute_batch", `{"sandbox_id":"zzzzzzzz","calls":[{"tool_name":"echo"}]}`, 404, ``},
	}
	for _, tt := range tests {
		code, _, body := do(t, ts, "POST", tt.path, tt.body)
		if code != tt.code || !strings.Contains(body, tt.loc) || !strings.HasPrefix(body, `{"detail":`) {
			t.Errorf("%s: %d %.200s, want %d %s", tt.name, code, body, tt.code, tt.loc)
		}
	}
	// An empty pool: each call is an error result, the batch is a 200.
	code, _, body := do(t, ts, "POST", "/pool/execute_batch", `{"calls":[{"tool_name":"echo","parameters":{"text":"x"}}]}`)
	if code != 200 || !strings.Contains(body, `"status_code":400`) {
		t.Errorf("empty pool: %d %s", code, body)
	}
}

func FuzzBatchRequest(f *testing.F) {
	for _, s := range []string{`{"calls":[{"tool_name":"echo","parameters":{"text":"x"},"timeout":1}],"concurrency":2,"timeout":9}`,
		`{"sandbox_id":"a","calls":[{"tool_name":""}]}`, `{"calls":null}`, `{"calls":[1,"x",{}]}`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, withSandbox := range []bool{false, true} {
			req, err := server.ParseBatch([]byte(body), withSandbox)
			if err != nil {
				continue
			}
			if n := server.BatchCalls(req); n < 1 || n > server.MaxBatchCalls {
				t.Fatalf("%d calls accepted from %q", n, body)
			}
		}
	})
}
