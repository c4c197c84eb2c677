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

// Schema is served byte-for-byte (tools.md §3).
const Schema = `{"type":"function","function":{"name":"python_executor","description":"Execute Python code in an isolated environment using IPython","parameters":{"type":"object","properties":{"code":{"type":"string","description":"Python code to execute"},"timeout":{"type":"integer","description":"Execution timeout in seconds","default":30}},"required":["code"],"additionalProperties":false}}}`

// runScript writes the code (stdin) to the script path ($0) and replaces the
// shell with `python` (or `python3` when the image has no `python`). No shell
// stays in between: it would add its own job messages ("Terminated",
// "Killed") to the program's stderr. The path is an argument, never shell
// text.
const runScript = `cat >"$0" || exit 1
command -v python >/dev/null 2>&1 && exec python "$0"
exec python3 "$0"`

type params struct {
	Code    string          `json:"code"`
	Timeout json.RawMessage `json:"timeout"`
}

// Python is the python_executor tool.
type Python struct{}

// New returns the tool.
func New() *Python { return &Python{} }

// Info implements tool.Tool.
func (*Python) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "python_executor", Kind: sdk.KindTool, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description: "Run Python code like `python script.py`", Schema: json.RawMessage(Schema)}, nil
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
	script := scriptPath()
	defer func() { go removeScript(ctx, sb, script) }()
	res, err := sb.Exec(ctx, sdk.ExecRequest{
		Argv:           []string{"sh", "-c", runScript, script},
		Env:            sb.Env(),
		WorkingDir:     sb.WorkingDir(),
		Stdin:          []byte(p.Code),
		Timeout:        d.D,
		MaxOutputBytes: call.MaxOutputBytes,
	})
	if err != nil {
		return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
	}
	return tool.FromExec(res, d), nil
}

// removeScript deletes the script after the call. It runs after the result
// is returned (no latency), bounded and detached from the call's
// cancellation, so the file goes even when the client left.
func removeScript(ctx context.Context, sb tool.Sandbox, path string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	sb.Exec(ctx, sdk.ExecRequest{Argv: []string{"rm", "-f", "--", path}, Timeout: 30 * time.Second})
}
