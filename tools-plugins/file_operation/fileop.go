package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

var version = "dev"

// Schema is served byte-for-byte.
const Schema = `{"type":"function","function":{"name":"file_operation","description":"Perform file operations like read, write, delete, and list files","parameters":{"type":"object","properties":{"operation":{"type":"string","description":"Type of file operation to perform","enum":["create","read","write","delete","list","exists"]},"file_path":{"type":"string","description":"Path to the file or directory"},"content":{"type":"string","description":"Content to write to file (only for write operation)"},"encoding":{"type":"string","description":"File encoding","default":"utf-8"}},"required":["operation","file_path"],"additionalProperties":false}}}`

// writeScript creates the parent directory of $1 and writes stdin to $1.
// Redirection truncates in place, so an existing file keeps owner and mode.
const writeScript = `d=$(dirname -- "$1") && mkdir -p -- "$d" && cat >"$1"`

type params struct {
	Operation string  `json:"operation"`
	FilePath  string  `json:"file_path"`
	Content   *string `json:"content"`
	Encoding  *string `json:"encoding"`
}

// FileOp is the file_operation tool.
type FileOp struct{}

// New returns the tool.
func New() *FileOp { return &FileOp{} }

// Info implements tool.Tool.
func (*FileOp) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "file_operation", Kind: sdk.KindTool, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description: "Read, write, list, delete files and test for their existence", Schema: json.RawMessage(Schema)}, nil
}

// Execute implements tool.Tool.
func (f *FileOp) Execute(ctx context.Context, sb tool.Sandbox, call tool.Call) (tool.Result, error) {
	var p params
	if err := json.Unmarshal(call.Params, &p); err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	if strings.TrimSpace(p.FilePath) == "" {
		return tool.Failed("No file path provided"), nil
	}
	run := func(stdin []byte, argv ...string) (sdk.ExecResult, error) {
		return sb.Exec(ctx, sdk.ExecRequest{Argv: argv, Env: sb.Env(), WorkingDir: sb.WorkingDir(), Stdin: stdin,
			Timeout: call.MaxDuration, MaxOutputBytes: call.MaxOutputBytes})
	}
	path := p.FilePath
	switch p.Operation {
	case "read":
		r, err := run(nil, "cat", "--", path)
		return outcome(r, err, tool.Text(r.Stdout), "Failed to read file: "+path), nil
	case "write", "create":
		content := ""
		if p.Content != nil {
			content = *p.Content
		} else if p.Operation == "write" {
			return tool.Failed("Content is required for write operation"), nil
		}
		enc := "utf-8"
		if p.Encoding != nil {
			enc = *p.Encoding
		}
		data, err := encode(content, enc)
		if err != nil {
			return tool.Failed("Write failed: " + err.Error()), nil
		}
		r, err := run(data, "sh", "-c", writeScript, "enclave-write", path)
		if err != nil {
			return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
		}
		if r.ExitCode != 0 || r.TimedOut {
			reason := strings.TrimSpace(tool.Text(r.Stderr))
			if reason == "" {
				reason = "Unknown error"
			}
			res := tool.Failed("Failed to copy file to target location: " + reason)
			res.ExitCode = r.ExitCode
			return res, nil
		}
		return tool.Result{Status: tool.StatusSuccess, Output: "File written successfully: " + path}, nil
	case "delete":
		r, err := run(nil, "rm", "-rf", "--", path)
		return outcome(r, err, "Successfully deleted: "+path, "Failed to delete: "+path), nil
	case "list":
		r, err := run(nil, "ls", "-la", "--", path)
		return outcome(r, err, tool.Text(r.Stdout), "Failed to list directory: "+path), nil
	case "exists":
		// No "--": with two arguments POSIX test applies -e to the second.
		r, err := run(nil, "test", "-e", path)
		if err != nil {
			return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
		}
		out := "exists"
		if r.ExitCode != 0 {
			out = "does not exist"
		}
		return tool.Result{Status: tool.StatusSuccess, Output: out, ExitCode: r.ExitCode}, nil
	default:
		return tool.Failed("Unknown operation: " + p.Operation), nil
	}
}

// outcome maps a coreutils step: success gives output, failure the
// diagnostic on stderr or the fallback message.
func outcome(r sdk.ExecResult, err error, output, fallback string) tool.Result {
	if err != nil {
		return tool.Failed(fmt.Sprintf("Execution failed: %v", err))
	}
	if r.ExitCode == 0 && !r.TimedOut {
		return tool.Result{Status: tool.StatusSuccess, Output: output, Verdict: tool.Verdict(r)}
	}
	msg := strings.TrimRight(tool.Text(r.Stderr), "\n")
	if msg == "" {
		msg = fallback
	}
	res := tool.Failed(msg)
	res.ExitCode = r.ExitCode
	if r.TimedOut {
		res.ExitCode = -1
	}
	res.Verdict = tool.Verdict(r)
	return res
}
