package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

var version = "dev"

// Schema is served byte-for-byte.
const Schema = `{"type":"function","function":{"name":"python_executor","description":"Execute Python code in an isolated environment using IPython","parameters":{"type":"object","properties":{"code":{"type":"string","description":"Python code to execute"},"timeout":{"type":"integer","description":"Execution timeout in seconds","default":30}},"required":["code"],"additionalProperties":false}}}`

// extension: what python_executor accepts beyond ms-enclave's schema (not
// advertised; see internal/schema).
const extension = `,"x-enclave":{"extra_parameters":{"stdin":{"type":"string","description":"Data for the script's standard input, then end-of-file"}}}}`

type params struct {
	Code    string          `json:"code"`
	Timeout json.RawMessage `json:"timeout"`
	Stdin   *string         `json:"stdin"`
}

// Python is the python_executor tool.
type Python struct{}

// New returns the tool.
func New() *Python { return &Python{} }

// Info implements tool.Tool.
func (*Python) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "python_executor", Kind: sdk.KindTool, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description: "Run Python code like `python script.py`", Schema: json.RawMessage(Schema[:len(Schema)-1] + extension)}, nil
}

func scriptPath() string {
	var b [16]byte
	rand.Read(b[:])
	return "/tmp/exec_script_" + hex.EncodeToString(b[:]) + ".py"
}

// Execute implements tool.Tool.
func (*Python) Execute(ctx context.Context, sb tool.Sandbox, call tool.Call) (tool.Result, error) {
	var p params
	if err := json.Unmarshal(call.Params, &p); err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	if strings.TrimSpace(p.Code) == "" {
		return tool.Failed("No code provided"), nil
	}
	d := tool.ParseDeadline(p.Timeout, tool.DeadlineRule{Default: 30 * time.Second, DefaultText: "30", NoneOnNull: true}, call.MaxDuration)
	// The host runs the script as `python <path>` would: in the sandbox's
	// resident runner when it has one (a fork, no interpreter start-up), else
	// as a one-shot process. Either way the file goes afterwards.
	req := sdk.ExecRequest{
		Env:            sb.Env(),
		WorkingDir:     sb.WorkingDir(),
		Timeout:        d.D,
		MaxOutputBytes: call.MaxOutputBytes,
	}
	if p.Stdin != nil {
		req.Stdin = []byte(*p.Stdin)
	}
	res, err := sb.RunPython(ctx, tool.PythonScript{Path: scriptPath(), Source: []byte(p.Code)}, req)
	if err != nil {
		return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
	}
	return tool.FromExec(res, d), nil
}
