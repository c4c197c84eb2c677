package executor

import (
	"context"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// fallbackPython runs a script as a one-shot process: the script arrives on
// stdin and the shell replaces itself with the interpreter.
const fallbackPython = `cat >"$0" || exit 1
` + runPython

// runPython runs the script "$0" with the sandbox's Python (sdk.PythonPath,
// the rule every path follows).
const runPython = `exec ` + sdk.PythonPath + ` "$0"`

// pythonOneShot runs a script without a runner: it is written to its path
// (from stdin of a first exec when the call has stdin of its own), then run
// as `python path`, and removed afterwards.
func (e *Executor) pythonOneShot(ctx context.Context, en *entry, script tool.PythonScript, req sdk.ExecRequest) (sdk.ExecResult, error) {
	be, containerID := en.target.Backend, en.target.ContainerID
	defer func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			be.Exec(ctx, containerID, sdk.ExecRequest{Argv: []string{"rm", "-f", "--", script.Path}, Timeout: 30 * time.Second})
		}()
	}()
	if req.Stdin == nil {
		req.Argv, req.Stdin = []string{"sh", "-c", fallbackPython, script.Path}, script.Source
		return be.Exec(ctx, containerID, req)
	}
	w, err := be.Exec(ctx, containerID, sdk.ExecRequest{Argv: []string{"sh", "-c", `cat >"$0"`, script.Path}, Stdin: script.Source,
		Env: req.Env, WorkingDir: req.WorkingDir, Timeout: req.Timeout})
	if err != nil {
		return sdk.ExecResult{}, err
	}
	if w.ExitCode != 0 {
		return w, nil
	}
	req.Argv = []string{"sh", "-c", runPython, script.Path}
	return be.Exec(ctx, containerID, req)
}
