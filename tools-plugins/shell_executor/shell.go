package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

var version = "dev"

// Schema is served byte-for-byte.
const Schema = `{"type":"function","function":{"name":"shell_executor","description":"Execute shell commands in an isolated environment","parameters":{"type":"object","properties":{"command":{"anyOf":[{"type":"string","description":"Shell command to execute"},{"type":"array","description":"List of shell command arguments to execute","items":{"type":"string"}}]},"timeout":{"type":"integer","description":"Execution timeout in seconds","default":30}},"required":["command"],"additionalProperties":false}}}`

// extension: what shell_executor accepts beyond ms-enclave's schema (not
// advertised; see internal/schema).
const extension = `,"x-enclave":{"extra_parameters":{"stdin":{"type":"string","description":"Data for the command's standard input, then end-of-file"}}}}`

type params struct {
	Command json.RawMessage `json:"command"`
	Timeout json.RawMessage `json:"timeout"`
	Stdin   *string         `json:"stdin"`
}

// Shell is the shell_executor tool.
type Shell struct{}

// New returns the tool.
func New() *Shell { return &Shell{} }

// Info implements tool.Tool.
func (*Shell) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "shell_executor", Kind: sdk.KindTool, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description: "Run shell commands (string: sh -c; array: argv)", Schema: json.RawMessage(Schema[:len(Schema)-1] + extension)}, nil
}

// argv turns the command parameter into argv; nil when there is nothing to run.
func argv(raw json.RawMessage) ([]string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		return []string{"sh", "-c", s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("command must be a string or an array of strings: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}

// Execute implements tool.Tool.
func (*Shell) Execute(ctx context.Context, sb tool.Sandbox, call tool.Call) (tool.Result, error) {
	var p params
	if err := json.Unmarshal(call.Params, &p); err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	args, err := argv(p.Command)
	if err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	if args == nil {
		return tool.Failed("No command provided"), nil
	}
	d := tool.ParseDeadline(p.Timeout, tool.DeadlineRule{Default: 30 * time.Second, DefaultText: "30", NoneOnNull: true}, call.MaxDuration)
	req := sdk.ExecRequest{Argv: args, Env: sb.Env(), WorkingDir: sb.WorkingDir(), Timeout: d.D, MaxOutputBytes: call.MaxOutputBytes}
	if p.Stdin != nil {
		req.Stdin = []byte(*p.Stdin)
	}
	res, err := sb.Exec(ctx, req)
	if err != nil {
		return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
	}
	return tool.FromExec(res, d), nil
}
