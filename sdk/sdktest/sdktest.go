// Package sdktest is the plugin contract suite. Every plugin's tests run it:
// the plugin is served in-process over go-plugin's real gRPC transport, so
// the suite checks what the host will see (Info, schemas, typed errors,
// callbacks through the broker), not just the Go implementation.
package sdktest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// ToolCase is one call the suite makes; Check inspects the result.
type ToolCase struct {
	Name   string
	Params string
	Check  func(t *testing.T, r tool.Result)
}

// ToolClient serves impl over gRPC with host as the sandbox host and
// returns the host-side client.
func ToolClient(t *testing.T, impl tool.Tool, host tool.Sandboxes) *tool.Client {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{sdk.KindTool: &tool.Plugin{Impl: impl, Sandboxes: host}})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(sdk.KindTool)
	if err != nil {
		t.Fatalf("dispense tool: %v", err)
	}
	return raw.(*tool.Client)
}

// RunTool checks a tool's Info and schema, then runs cases through the gRPC
// shims against a LocalHost sandbox.
func RunTool(t *testing.T, impl tool.Tool, cases ...ToolCase) {
	t.Helper()
	host := NewLocalHost(t)
	c := ToolClient(t, impl, host)
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	CheckToolInfo(t, info)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			res, err := c.Execute(ctx, host.Info(), tool.Call{Name: info.Name, Params: json.RawMessage(tc.Params),
				MaxDuration: DefaultMaxDuration, MaxOutputBytes: 1 << 20})
			if err != nil {
				t.Fatalf("Execute(%s): %v", tc.Params, err)
			}
			if res.Status != tool.StatusSuccess && res.Status != tool.StatusError && res.Status != tool.StatusTimeout {
				t.Errorf("status %q is not success, error or timeout", res.Status)
			}
			if res.Status != tool.StatusSuccess && res.Error == nil {
				t.Errorf("status %s with a null error", res.Status)
			}
			if tc.Check != nil {
				tc.Check(t, res)
			}
		})
	}
}

// Expect returns a ToolCase check: the status and output exactly, and an
// error text containing errContains ("" accepts any, including null).
func Expect(status, output, errContains string) func(*testing.T, tool.Result) {
	return func(t *testing.T, r tool.Result) {
		t.Helper()
		e := ""
		if r.Error != nil {
			e = *r.Error
		}
		if r.Status != status || r.Output != output || !strings.Contains(e, errContains) {
			t.Errorf("got %s %q (error %q), want %s %q (error containing %q)", r.Status, r.Output, e, status, output, errContains)
		}
	}
}

// CheckToolInfo checks what the host requires of a tool's Info.
func CheckToolInfo(t *testing.T, info sdk.Info) {
	t.Helper()
	if info.Kind != sdk.KindTool {
		t.Errorf("Info.Kind = %q, want %q", info.Kind, sdk.KindTool)
	}
	if info.Name == "" {
		t.Errorf("Info.Name is empty")
	}
	if !info.Supports(sdk.APIVersion) {
		t.Errorf("Info.APIVersions %v lacks %d", info.APIVersions, sdk.APIVersion)
	}
	var s struct {
		Type     string `json:"type"`
		Function struct {
			Name       string `json:"name"`
			Parameters struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"parameters"`
		} `json:"function"`
	}
	if err := json.Unmarshal(info.Schema, &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if s.Type != "function" || s.Function.Name != info.Name || s.Function.Parameters.Type != "object" {
		t.Errorf("schema must be {\"type\":\"function\",\"function\":{\"name\":%q,\"parameters\":{\"type\":\"object\",...}}}: %s", info.Name, info.Schema)
	}
}

// BackendClient serves impl over gRPC and returns the host-side client.
func BackendClient(t *testing.T, impl backend.Backend) *backend.Client {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{sdk.KindBackend: &backend.Plugin{Impl: impl}})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(sdk.KindBackend)
	if err != nil {
		t.Fatalf("dispense backend: %v", err)
	}
	return raw.(*backend.Client)
}
