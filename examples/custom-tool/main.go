// Command enclave-tool-search_files is an example enclave tool plugin: it
// searches the files of a sandbox with grep and returns structured matches.
// It depends only on enclave's sdk. See README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// schema is what GET /sandbox/{id}/tools shows; the host validates every
// call's parameters against it before Execute runs.
const schema = `{"type":"function","function":{"name":"search_files","description":"Search file contents in the sandbox with a regular expression and return the matching lines","parameters":{"type":"object","properties":{"pattern":{"type":"string","description":"Extended regular expression (grep -E)"},"path":{"type":"string","description":"File or directory to search; relative paths are under the working directory","default":"."},"glob":{"type":"string","description":"Only search files whose name matches this glob, e.g. *.py"},"max_results":{"type":"integer","description":"Stop after this many matches","default":100}},"required":["pattern"],"additionalProperties":false}}}`

type params struct {
	Pattern    string  `json:"pattern"`
	Path       *string `json:"path"`
	Glob       *string `json:"glob"`
	MaxResults *int    `json:"max_results"`
}

// Match is one matching line.
type Match struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Text string `json:"text"`
}

// Output is the tool's output, as JSON text.
type Output struct {
	Matches   []Match `json:"matches"`
	Truncated bool    `json:"truncated"`
}

type searchFiles struct{}

func (searchFiles) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "search_files", Kind: sdk.KindTool, Version: "0.1.0", APIVersions: []uint32{sdk.APIVersion},
		Description: "grep inside the sandbox, structured results", Schema: json.RawMessage(schema)}, nil
}

func (searchFiles) Execute(ctx context.Context, sb tool.Sandbox, call tool.Call) (tool.Result, error) {
	var p params
	if err := json.Unmarshal(call.Params, &p); err != nil {
		return tool.Failed("Execution failed: " + err.Error()), nil
	}
	if p.Pattern == "" {
		return tool.Failed("No pattern provided"), nil
	}
	path, max := ".", 100
	if p.Path != nil && *p.Path != "" {
		path = *p.Path
	}
	if p.MaxResults != nil && *p.MaxResults > 0 {
		max = *p.MaxResults
	}
	// argv, never a shell string: the pattern and path reach grep verbatim.
	argv := []string{"grep", "-rnIE", "-m", strconv.Itoa(max)}
	if p.Glob != nil && *p.Glob != "" {
		argv = append(argv, "--include="+*p.Glob)
	}
	argv = append(argv, "-e", p.Pattern, "--", path)
	res, err := sb.Exec(ctx, sdk.ExecRequest{Argv: argv, Env: sb.Env(), WorkingDir: sb.WorkingDir(),
		Timeout: call.MaxDuration, MaxOutputBytes: call.MaxOutputBytes})
	if err != nil {
		return tool.Failed(fmt.Sprintf("Execution failed: %v", err)), nil
	}
	// grep: 0 = matches, 1 = none, 2 = trouble (bad pattern, missing path).
	if res.ExitCode > 1 || res.TimedOut {
		msg := strings.TrimSpace(tool.Text(res.Stderr))
		if msg == "" {
			msg = fmt.Sprintf("grep failed with exit code %d", res.ExitCode)
		}
		r := tool.Failed(msg)
		r.ExitCode, r.Verdict = res.ExitCode, tool.Verdict(res)
		return r, nil
	}
	out := Output{Matches: []Match{}, Truncated: res.StdoutTruncated}
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m, ok := parseLine(tool.Text(sc.Bytes())); ok {
			if len(out.Matches) == max {
				out.Truncated = true
				break
			}
			out.Matches = append(out.Matches, m)
		}
	}
	text, _ := json.Marshal(out)
	return tool.Result{Status: tool.StatusSuccess, Output: string(text), ExitCode: res.ExitCode, Verdict: tool.Verdict(res)}, nil
}

// parseLine splits grep's "file:line:text".
func parseLine(s string) (Match, bool) {
	file, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Match{}, false
	}
	num, text, ok := strings.Cut(rest, ":")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return Match{}, false
	}
	return Match{File: file, Line: n, Text: text}, true
}

func main() { tool.Serve(searchFiles{}) }
