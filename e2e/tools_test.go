package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The exact schemas of ms-enclave's python, shell and file tools, served byte-for-byte.
const (
	pythonSchema    = `{"type":"function","function":{"name":"python_executor","description":"Execute Python code in an isolated environment using IPython","parameters":{"type":"object","properties":{"code":{"type":"string","description":"Python code to execute"},"timeout":{"type":"integer","description":"Execution timeout in seconds","default":30}},"required":["code"],"additionalProperties":false}}}`
	shellSchema     = `{"type":"function","function":{"name":"shell_executor","description":"Execute shell commands in an isolated environment","parameters":{"type":"object","properties":{"command":{"anyOf":[{"type":"string","description":"Shell command to execute"},{"type":"array","description":"List of shell command arguments to execute","items":{"type":"string"}}]},"timeout":{"type":"integer","description":"Execution timeout in seconds","default":30}},"required":["command"],"additionalProperties":false}}}`
	notebookSchema  = `{"type":"function","function":{"name":"notebook_executor","description":"Execute Python code in a Jupyter kernel environment","parameters":{"type":"object","properties":{"code":{"type":"string","description":"Python code to execute in the notebook kernel"},"timeout":{"type":"integer","description":"Execution timeout in seconds","default":30}},"required":["code"],"additionalProperties":false}}}`
	multiCodeSchema = `{"type":"function","function":{"name":"multi_code_executor","description":"Execute code in various languages (python, cpp, csharp, go, java, nodejs, ts, rust, php, bash, pytest, jest, go_test, lua, r, perl, d_ut, ruby, scala, julia, kotlin_script, verilog, lean, swift, racket) with runtime tuning","parameters":{"type":"object","properties":{"language":{"type":"string","description":"Language to execute (python, cpp, csharp, go, java, nodejs, ts, rust, php, bash, pytest, jest, go_test, lua, r, perl, d_ut, ruby, scala, julia, kotlin_script, verilog, lean, swift, racket)"},"code":{"type":"string","description":"Source code to execute"},"files":{"type":"object","description":"Optional additional files to write before execution (filename -> content)","additionalProperties":{"type":"string"}},"compile_timeout":{"type":"integer","description":"Compile timeout in seconds (omit to disable compilation timeout)"},"run_timeout":{"type":"integer","description":"Run timeout in seconds","default":30}},"required":["language","code"],"additionalProperties":false}}}`
	fileSchema      = `{"type":"function","function":{"name":"file_operation","description":"Perform file operations like read, write, delete, and list files","parameters":{"type":"object","properties":{"operation":{"type":"string","description":"Type of file operation to perform","enum":["create","read","write","delete","list","exists"]},"file_path":{"type":"string","description":"Path to the file or directory"},"content":{"type":"string","description":"Content to write to file (only for write operation)"},"encoding":{"type":"string","description":"File encoding","default":"utf-8"}},"required":["operation","file_path"],"additionalProperties":false}}}`
)

type toolCase struct {
	name       string
	tool       string
	params     map[string]any
	status     string
	output     string // exact, unless outputHas is set
	outputHas  []string
	err        string // exact; "" = skip; "<nil>" = null
	errHas     []string
	exitCode   *int
	verdict    string
	checkAfter func(t *testing.T, s *server, id string)
}

func code(n int) *int { return &n }

// markerAbsentLater checks, 2.5 s later, that a process killed at its
// deadline did not get to create marker.
func markerAbsentLater(marker string) func(t *testing.T, s *server, id string) {
	return func(t *testing.T, s *server, id string) {
		time.Sleep(2500 * time.Millisecond)
		r := s.exec(t, id, "file_operation", map[string]any{"operation": "exists", "file_path": marker})
		if r.Output != "does not exist" {
			t.Errorf("marker %s: %q; the process survived its deadline", marker, r.Output)
		}
	}
}

func runToolCases(t *testing.T, s *server, id string, cases []toolCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.exec(t, id, tc.tool, tc.params)
			if r.Status != tc.status {
				t.Errorf("status = %q, want %q (output %q, error %q)", r.Status, tc.status, r.Output, errText(r))
			}
			if tc.outputHas == nil && r.Output != tc.output {
				t.Errorf("output = %q, want %q", r.Output, tc.output)
			}
			for _, want := range tc.outputHas {
				if !strings.Contains(r.Output, want) {
					t.Errorf("output %q lacks %q", r.Output, want)
				}
			}
			if tc.err != "" && errText(r) != tc.err {
				t.Errorf("error = %q, want %q", errText(r), tc.err)
			}
			for _, want := range tc.errHas {
				if !strings.Contains(errText(r), want) {
					t.Errorf("error %q lacks %q", errText(r), want)
				}
			}
			if tc.exitCode != nil && r.Metadata.ExitCode != *tc.exitCode {
				t.Errorf("exit_code = %d, want %d", r.Metadata.ExitCode, *tc.exitCode)
			}
			if r.Metadata.Verdict != tc.verdict {
				t.Errorf("verdict = %q, want %q", r.Metadata.Verdict, tc.verdict)
			}
			if r.ToolName != tc.tool || r.Timestamp == "" || r.ExecutionTime <= 0 {
				t.Errorf("tool_name %q, timestamp %q, execution_time %v", r.ToolName, r.Timestamp, r.ExecutionTime)
			}
			if tc.checkAfter != nil {
				tc.checkAfter(t, s, id)
			}
		})
	}
}

func TestPythonExecutor(t *testing.T) {
	bothPaths(t, func(t *testing.T, s *server) {
		id := s.sandbox(t, map[string]any{"env_vars": map[string]string{"GREETING": "hello"}})
		m1, m2 := "/tmp/m_"+randHex(6), "/tmp/m_"+randHex(6)
		runToolCases(t, s, id, []toolCase{
			{name: "hello", tool: "python_executor", params: map[string]any{"code": `print("Hello, World!")`}, status: "success", output: "Hello, World!\n", err: "<nil>", exitCode: code(0)},
			{name: "two lines", tool: "python_executor", params: map[string]any{"code": "print('a')\nprint('b')"}, status: "success", output: "a\nb\n", err: "<nil>"},
			{name: "version cwd squares", tool: "python_executor", params: map[string]any{"code": "import sys, os\nprint(f\"Python version: {sys.version}\")\nprint(f\"Working directory: {os.getcwd()}\")\nprint(f\"Squares: {[i*i for i in range(5)]}\")"},
				status: "success", outputHas: []string{"Python version:", "Working directory: /sandbox", "Squares: [0, 1, 4, 9, 16]"}},
			{name: "traceback", tool: "python_executor", params: map[string]any{"code": `raise ValueError("x")`}, status: "error", output: "",
				errHas: []string{"Traceback (most recent call last):", `File "/tmp/exec_script_`, "ValueError: x"}, exitCode: code(1)},
			{name: "sys.exit(3)", tool: "python_executor", params: map[string]any{"code": "import sys; sys.exit(3)"}, status: "error", output: "", err: "Command failed with exit code 3", exitCode: code(3)},
			{name: "sys.exit(msg)", tool: "python_executor", params: map[string]any{"code": "import sys; sys.exit('bye')"}, status: "error", output: "", err: "bye\n", exitCode: code(1)},
			{name: "__name__", tool: "python_executor", params: map[string]any{"code": "print(__name__)"}, status: "success", output: "__main__\n"},
			{name: "argv and path", tool: "python_executor", params: map[string]any{"code": "import sys\nprint(sys.argv[0] == __file__, sys.path[0])"}, status: "success", output: "True /tmp\n"},
			{name: "stdin is EOF", tool: "python_executor", params: map[string]any{"code": "try:\n    input()\nexcept EOFError:\n    print('eof')"}, status: "success", output: "eof\n"},
			{name: "stderr on success", tool: "python_executor", params: map[string]any{"code": "import sys; print('out'); print('warn', file=sys.stderr)"}, status: "success", output: "out\n", err: "warn\n"},
			{name: "env vars", tool: "python_executor", params: map[string]any{"code": "import os; print(os.environ['GREETING'])"}, status: "success", output: "hello\n"},
			{name: "no code", tool: "python_executor", params: map[string]any{"code": "  \n"}, status: "error", output: "", err: "No code provided"},
			{name: "timeout", tool: "python_executor", params: map[string]any{"code": "import time\nprint('started', flush=True)\ntime.sleep(10)", "timeout": 0.5}, status: "timeout",
				output: "started\n", err: "Command timed out after 0.5 seconds", exitCode: code(-1), verdict: "timeout"},
			{name: "timeout kills os.system grandchild", tool: "python_executor", params: map[string]any{"code": fmt.Sprintf("import os; os.system('sleep 2; touch %s')", m1), "timeout": 0.3},
				status: "timeout", output: "", verdict: "timeout", checkAfter: markerAbsentLater(m1)},
			{name: "subprocess grandchild", tool: "python_executor", params: map[string]any{"code": fmt.Sprintf("import subprocess; subprocess.run(['sh','-c','sleep 2; touch %s'])", m2), "timeout": 0.3},
				status: "timeout", output: "", verdict: "timeout", checkAfter: markerAbsentLater(m2)},
			{name: "script exists while running", tool: "python_executor", params: map[string]any{"code": "import os; print(os.path.exists(__file__))"}, status: "success", output: "True\n"},
			{name: "scripts removed after the calls", tool: "shell_executor", params: map[string]any{"command": "for i in $(seq 100); do n=$(ls /tmp | grep -c exec_script_); [ $n = 0 ] && break; sleep 0.1; done; echo $n"}, status: "success", output: "0\n"},
			{name: "atexit and threads", tool: "python_executor", params: map[string]any{"code": "import atexit, threading, time\natexit.register(lambda: print('bye'))\nthreading.Thread(target=lambda: (time.sleep(0.2), print('thread'))).start()"},
				status: "success", output: "thread\nbye\n"},
		})
	})
}

func TestShellExecutor(t *testing.T) {
	bothPaths(t, func(t *testing.T, s *server) {
		id := s.sandbox(t, nil)
		m1, m2 := "/tmp/m_"+randHex(6), "/tmp/m_"+randHex(6)
		runToolCases(t, s, id, []toolCase{
			{name: "string", tool: "shell_executor", params: map[string]any{"command": `echo "Hello, Shell!"`}, status: "success", outputHas: []string{"Hello, Shell!"}, err: "<nil>"},
			{name: "array", tool: "shell_executor", params: map[string]any{"command": []string{"bash", "-c", "echo wrapped"}, "timeout": 5}, status: "success", output: "wrapped\n"},
			{name: "string with && and $HOME, timeout 0", tool: "shell_executor", params: map[string]any{"command": "echo ok && echo $HOME", "timeout": 0}, status: "success", output: "ok\n/root\n"},
			{name: "pipes without timeout", tool: "shell_executor", params: map[string]any{"command": "printf 'b\\na\\n' | sort"}, status: "success", output: "a\nb\n"},
			{name: "exit 124 is an error", tool: "shell_executor", params: map[string]any{"command": []string{"bash", "-c", "exit 124"}, "timeout": 5}, status: "error", output: "", err: "Command failed with exit code 124", exitCode: code(124)},
			{name: "kill -9 is an error", tool: "shell_executor", params: map[string]any{"command": []string{"bash", "-c", "kill -9 $$"}, "timeout": 5}, status: "error", exitCode: code(137)},
			{name: "timeout kills", tool: "shell_executor", params: map[string]any{"command": []string{"bash", "-c", "sleep 2; touch " + m1}, "timeout": 0.3}, status: "timeout",
				output: "", err: "Command timed out after 0.3 seconds", exitCode: code(-1), verdict: "timeout", checkAfter: markerAbsentLater(m1)},
			{name: "timeout kills grandchild", tool: "shell_executor", params: map[string]any{"command": []string{"bash", "-c", `bash -c "sleep 2; touch ` + m2 + `" & wait`}, "timeout": 0.3},
				status: "timeout", output: "", verdict: "timeout", checkAfter: markerAbsentLater(m2)},
			{name: "stderr and exit", tool: "shell_executor", params: map[string]any{"command": "echo out; echo err >&2; exit 2"}, status: "error", output: "out\n", err: "err\n", exitCode: code(2)},
			{name: "missing program", tool: "shell_executor", params: map[string]any{"command": []string{"no-such-program-x"}}, status: "error", output: "", errHas: []string{"no-such-program-x"}, exitCode: code(127)},
			{name: "empty string", tool: "shell_executor", params: map[string]any{"command": "  "}, status: "error", output: "", err: "No command provided"},
			{name: "empty array", tool: "shell_executor", params: map[string]any{"command": []string{}}, status: "error", output: "", err: "No command provided"},
			{name: "cd does not persist", tool: "shell_executor", params: map[string]any{"command": "pwd"}, status: "success", output: "/sandbox\n"},
			{name: "stdin is EOF", tool: "shell_executor", params: map[string]any{"command": "cat; echo done"}, status: "success", output: "done\n"},
		})
	})
}

func TestFileOperation(t *testing.T) {
	bothPaths(t, func(t *testing.T, s *server) {
		id := s.sandbox(t, nil)
		weird := `/tmp/q"x$(touch pwned)`
		runToolCases(t, s, id, []toolCase{
			{name: "create", tool: "file_operation", params: map[string]any{"operation": "create", "file_path": "/tmp/test_file.txt", "content": "Test content"}, status: "success", output: "File written successfully: /tmp/test_file.txt"},
			{name: "exists", tool: "file_operation", params: map[string]any{"operation": "exists", "file_path": "/tmp/test_file.txt"}, status: "success", output: "exists", exitCode: code(0)},
			{name: "read", tool: "file_operation", params: map[string]any{"operation": "read", "file_path": "/tmp/test_file.txt"}, status: "success", output: "Test content"},
			{name: "list", tool: "file_operation", params: map[string]any{"operation": "list", "file_path": "/tmp"}, status: "success", outputHas: []string{"test_file.txt"}},
			{name: "delete", tool: "file_operation", params: map[string]any{"operation": "delete", "file_path": "/tmp/test_file.txt"}, status: "success", output: "Successfully deleted: /tmp/test_file.txt"},
			{name: "exists after delete", tool: "file_operation", params: map[string]any{"operation": "exists", "file_path": "/tmp/test_file.txt"}, status: "success", output: "does not exist", exitCode: code(1)},
			{name: "delete missing", tool: "file_operation", params: map[string]any{"operation": "delete", "file_path": "/tmp/nothing-here"}, status: "success", output: "Successfully deleted: /tmp/nothing-here"},
			{name: "write weird path", tool: "file_operation", params: map[string]any{"operation": "write", "file_path": weird, "content": "x"}, status: "success", output: "File written successfully: " + weird},
			{name: "read weird path", tool: "file_operation", params: map[string]any{"operation": "read", "file_path": weird}, status: "success", output: "x"},
			{name: "no command substitution", tool: "file_operation", params: map[string]any{"operation": "exists", "file_path": "pwned"}, status: "success", output: "does not exist"},
			{name: "write makes parents, relative path", tool: "file_operation", params: map[string]any{"operation": "write", "file_path": "a/b/c.txt", "content": "héllo\n"}, status: "success", output: "File written successfully: a/b/c.txt"},
			{name: "read relative under working_dir", tool: "file_operation", params: map[string]any{"operation": "read", "file_path": "/sandbox/a/b/c.txt"}, status: "success", output: "héllo\n"},
			{name: "write latin-1", tool: "file_operation", params: map[string]any{"operation": "write", "file_path": "/tmp/l1.txt", "content": "é", "encoding": "latin-1"}, status: "success", output: "File written successfully: /tmp/l1.txt"},
			{name: "latin-1 bytes read back replaced", tool: "file_operation", params: map[string]any{"operation": "read", "file_path": "/tmp/l1.txt"}, status: "success", output: "\uFFFD"},
			{name: "leading dash", tool: "file_operation", params: map[string]any{"operation": "write", "file_path": "-n", "content": "dash"}, status: "success", output: "File written successfully: -n"},
			{name: "read leading dash", tool: "file_operation", params: map[string]any{"operation": "read", "file_path": "-n"}, status: "success", output: "dash"},
			{name: "read missing", tool: "file_operation", params: map[string]any{"operation": "read", "file_path": "/tmp/missing.txt"}, status: "error", output: "", err: "cat: /tmp/missing.txt: No such file or directory"},
			{name: "read directory", tool: "file_operation", params: map[string]any{"operation": "read", "file_path": "/tmp"}, status: "error", output: "", err: "cat: /tmp: Is a directory"},
			{name: "list missing", tool: "file_operation", params: map[string]any{"operation": "list", "file_path": "/nope"}, status: "error", output: "", err: "ls: cannot access '/nope': No such file or directory"},
			{name: "write without content", tool: "file_operation", params: map[string]any{"operation": "write", "file_path": "/tmp/x"}, status: "error", output: "", err: "Content is required for write operation"},
			{name: "write unknown codec", tool: "file_operation", params: map[string]any{"operation": "write", "file_path": "/tmp/x", "content": "a", "encoding": "klingon"}, status: "error", err: "Write failed: unknown encoding: klingon"},
			{name: "write unencodable", tool: "file_operation", params: map[string]any{"operation": "write", "file_path": "/tmp/x", "content": "é", "encoding": "ascii"}, status: "error", errHas: []string{"Write failed: "}},
			{name: "write onto a directory", tool: "file_operation", params: map[string]any{"operation": "write", "file_path": "/tmp", "content": "a"}, status: "error", errHas: []string{"Failed to copy file to target location: "}},
			{name: "unknown operation", tool: "file_operation", params: map[string]any{"operation": "chmod", "file_path": "/tmp"}, status: "error", output: "", err: "Unknown operation: chmod"},
			{name: "empty path", tool: "file_operation", params: map[string]any{"operation": "read", "file_path": " "}, status: "error", output: "", err: "No file path provided"},
		})
	})
}

func TestToolSchemasAndValidation(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	code, _, body := s.raw(t, "GET", "/sandbox/"+id+"/tools", "")
	want := `{"python_executor":` + pythonSchema + `,"shell_executor":` + shellSchema + `,"file_operation":` + fileSchema + `}`
	if code != 200 || body != want {
		t.Errorf("GET tools = %d\n%s\nwant\n%s", code, body, want)
	}
	cases := []struct{ params, want string }{
		{`{"code":"print(1)","foo":1}`, `{"detail":"Invalid parameters for tool python_executor: unexpected parameter 'foo'"}`},
		{`{"code":123}`, `{"detail":"Invalid parameters for tool python_executor: parameter 'code' must be a string"}`},
		{`{}`, `{"detail":"Invalid parameters for tool python_executor: missing required parameter 'code'"}`},
		{`{"code":"x","timeout":-1}`, `{"detail":"Invalid parameters for tool python_executor: parameter 'timeout' must be >= 0"}`},
	}
	for _, c := range cases {
		code, h, body := s.raw(t, "POST", "/sandbox/tool/execute", `{"sandbox_id":"`+id+`","tool_name":"python_executor","parameters":`+c.params+`}`, "Content-Type", "application/json")
		if code != 422 || body != c.want || h.Get("Content-Type") != "application/json" {
			t.Errorf("params %s: %d %s, want 422 %s", c.params, code, body, c.want)
		}
	}
	// All five on a docker_notebook sandbox, byte for byte.
	nb, err := s.C.CreateSandbox(context.Background(), "docker_notebook", json.RawMessage(`{"tools_config":{"python_executor":{},"shell_executor":{},"file_operation":{},"notebook_executor":{},"multi_code_executor":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer s.C.DeleteSandbox(context.Background(), nb)
	_, _, body = s.raw(t, "GET", "/sandbox/"+nb+"/tools", "")
	want = `{"python_executor":` + pythonSchema + `,"shell_executor":` + shellSchema + `,"file_operation":` + fileSchema + `,"notebook_executor":` + notebookSchema + `,"multi_code_executor":` + multiCodeSchema + `}`
	if body != want {
		t.Errorf("five tools:\n%s\nwant\n%s", body, want)
	}
	// Renaming and overriding through tools_config.
	id2 := s.sandbox(t, map[string]any{"tools_config": map[string]any{"python_executor": map[string]any{"name": "py", "description": "Run Python"}, "shell_executor": map[string]any{"enabled": false}, "nope": map[string]any{}}})
	_, _, body = s.raw(t, "GET", "/sandbox/"+id2+"/tools", "")
	if !strings.HasPrefix(body, `{"py":{"type":"function","function":{"name":"py","description":"Run Python","parameters":`) || strings.Contains(body, "shell_executor") || strings.Contains(body, "nope") {
		t.Errorf("renamed tools = %s", body)
	}
	r := s.exec(t, id2, "py", map[string]any{"code": "print(7)"})
	if r.Output != "7\n" || r.ToolName != "py" {
		t.Errorf("renamed tool call: %+v", r)
	}
}

// bothPaths runs a semantic suite on the resident-runner path and on the
// one-shot exec path: the semantics must be the same.
func bothPaths(t *testing.T, run func(t *testing.T, s *server)) {
	for _, p := range []struct {
		name string
		args []string
	}{{"runner", nil}, {"exec", []string{"--resident-runner=false"}}} {
		t.Run(p.name, func(t *testing.T) {
			s := startServer(t, "", p.args...)
			// Prove which path runs: under the runner a call's parent is the
			// resident Python process, under exec it is GNU timeout.
			id := s.sandbox(t, nil)
			r := s.exec(t, id, "shell_executor", map[string]any{"command": "tr '\\0' ' ' < /proc/$PPID/cmdline"})
			underRunner := strings.Contains(r.Output, "python")
			if underRunner != (p.name == "runner") {
				t.Fatalf("%s path: parent of a call is %q", p.name, r.Output)
			}
			run(t, s)
		})
	}
}

// TestOOMVerdict: a process the memory limit kills is an error with verdict
// oom_killed, on both execution paths; a SIGKILL from
// elsewhere is not.
func TestOOMVerdict(t *testing.T) {
	for _, args := range [][]string{nil, {"--resident-runner=false"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			s := startServer(t, "", args...)
			id := s.sandbox(t, map[string]any{"memory_limit": "64m"})
			r := s.exec(t, id, "python_executor", map[string]any{"code": "x = bytearray(300 * 1024 * 1024)\nprint(len(x))"})
			if r.Status != "error" || r.Metadata.ExitCode != 137 || r.Metadata.Verdict != "oom_killed" {
				t.Errorf("over the memory limit: %s exit %d verdict %q (%s)", r.Status, r.Metadata.ExitCode, r.Metadata.Verdict, errText(r))
			}
			r = s.exec(t, id, "shell_executor", map[string]any{"command": []string{"bash", "-c", "kill -9 $$"}})
			if r.Status != "error" || r.Metadata.ExitCode != 137 || r.Metadata.Verdict != "" {
				t.Errorf("kill -9: %s exit %d verdict %q", r.Status, r.Metadata.ExitCode, r.Metadata.Verdict)
			}
		})
	}
}
