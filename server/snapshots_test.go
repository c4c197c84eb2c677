package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/enclave-sandbox/enclave/internal/manager"
	"github.com/enclave-sandbox/enclave/internal/sandboxconfig"
)

func TestParseSnapshotRequest(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
		want manager.SnapshotRequest
	}{
		{``, true, manager.SnapshotRequest{}},
		{`{}`, true, manager.SnapshotRequest{}},
		{`{"name":"repo-ready","labels":{"task":"t1"},"ttl":60}`, true, manager.SnapshotRequest{Name: "repo-ready", Labels: map[string]string{"task": "t1"}, TTL: 60e9}},
		{`{"ttl":0}`, true, manager.SnapshotRequest{TTL: -1}},
		{`{"name":""}`, false, manager.SnapshotRequest{}},
		{`{"name":"a/b"}`, false, manager.SnapshotRequest{}},
		{`{"name":"` + strings.Repeat("a", 64) + `"}`, false, manager.SnapshotRequest{}},
		{`{"name":7}`, false, manager.SnapshotRequest{}},
		{`{"labels":{"a b":"c"}}`, false, manager.SnapshotRequest{}},
		{`{"labels":{"k":"` + strings.Repeat("v", 257) + `"}}`, false, manager.SnapshotRequest{}},
		{`{"labels":["x"]}`, false, manager.SnapshotRequest{}},
		{`{"ttl":-1}`, false, manager.SnapshotRequest{}},
		{`{"ttl":1e12}`, false, manager.SnapshotRequest{}},
		{`[]`, false, manager.SnapshotRequest{}},
	}
	for _, tt := range tests {
		var raw json.RawMessage
		if tt.body != "" {
			raw = json.RawMessage(tt.body)
		}
		got, err := parseSnapshotRequest(raw)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok=%v", tt.body, err, tt.ok)
			continue
		}
		if tt.ok && (got.Name != tt.want.Name || got.TTL != tt.want.TTL || len(got.Labels) != len(tt.want.Labels)) {
			t.Errorf("%s: %+v, want %+v", tt.body, got, tt.want)
		}
	}
}

// FuzzSnapshotRequest: a snapshot request is accepted only with a usable
// name, labels and ttl, and never panics.
func FuzzSnapshotRequest(f *testing.F) {
	for _, s := range []string{`{}`, `{"name":"s1","labels":{"a":"b"},"ttl":5}`, `{"name":"-x"}`, `{"labels":{"":"x"}}`, `{"ttl":"5"}`, `null`, `[]`, `{"name":"a\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		req, err := parseSnapshotRequest(json.RawMessage(strings.TrimSpace(body)))
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("%q: error %T %v is not an API error", body, err, err)
			}
			return
		}
		if req.Name != "" && !sandboxconfig.ValidSnapshotName(req.Name) {
			t.Fatalf("%q: name %q accepted", body, req.Name)
		}
		if manager.ValidateSnapshotLabels(req.Labels) != nil {
			t.Fatalf("%q: labels %v accepted", body, req.Labels)
		}
		if req.TTL < -1 || req.TTL > maxSnapshotTTL*1e9 {
			t.Fatalf("%q: ttl %v accepted", body, req.TTL)
		}
	})
}
