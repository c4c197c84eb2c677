package fake

import (
	"context"
	"encoding/json"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// EchoSchema is the fake echo tool's schema.
const EchoSchema = `{"type":"function","function":{"name":"echo","description":"Echo text","parameters":{"type":"object","properties":{"text":{"type":"string","description":"text"},"sleep":{"type":"number","description":"seconds"}},"required":["text"],"additionalProperties":false}}}`

// Echo is a tool that returns its text; "panic" panics, sleep waits.
type Echo struct{}

// Info returns the tool's info.
func (Echo) Info() sdk.Info {
	return sdk.Info{Name: "echo", Kind: sdk.KindTool, APIVersions: []uint32{sdk.APIVersion}, Schema: json.RawMessage(EchoSchema)}
}

// Execute echoes.
func (Echo) Execute(ctx context.Context, _ tool.SandboxInfo, call tool.Call) (tool.Result, error) {
	var p struct {
		Text  string  `json:"text"`
		Sleep float64 `json:"sleep"`
	}
	json.Unmarshal(call.Params, &p)
	if p.Text == "panic" {
		panic("echo asked to panic")
	}
	if p.Sleep > 0 {
		select {
		case <-time.After(time.Duration(p.Sleep * float64(time.Second))):
		case <-ctx.Done():
			return tool.Result{}, ctx.Err()
		}
	}
	return tool.Result{Status: tool.StatusSuccess, Output: p.Text}, nil
}
