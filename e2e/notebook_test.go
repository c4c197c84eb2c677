package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNotebookExecutor(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	id, err := s.C.CreateSandbox(ctx, "docker_notebook", map[string]any{"tools_config": []string{"notebook_executor", "file_operation"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.C.DeleteSandbox(ctx, id)
	nb := func(code string, timeout any) (status, output, errText string) {
		p := map[string]any{"code": code}
		if timeout != nil {
			p["timeout"] = timeout
		}
		r := s.exec(t, id, "notebook_executor", p)
		e := ""
		if r.Error != nil {
			e = *r.Error
		}
		return r.Status, r.Output, e
	}
	check := func(name, code string, timeout any, wantStatus, wantOut, wantErrHas string) {
		t.Helper()
		st, out, e := nb(code, timeout)
		if st != wantStatus || out != wantOut || !strings.Contains(e, wantErrHas) {
			t.Errorf("%s: got %s %q %q; want %s %q error containing %q", name, st, out, e, wantStatus, wantOut, wantErrHas)
		}
	}
	check("state 1", "a=1; b=2; c=a+b; print(c)", nil, "success", "3\n", "")
	check("state 2", "print(c)", nil, "success", "3\n", "")
	check("result of last expression", "x = 5\nx * 2", nil, "success", "\nResult: 10", "")
	check("print then result", "print('hi')\n'done'", nil, "success", "hi\n\nResult: 'done'", "")
	check("None is not shown", "None", nil, "success", "", "")
	check("trailing semicolon hides the result", "1 + 1;", nil, "success", "", "")
	check("empty cell", "", nil, "success", "", "")
	check("streams in order", "import sys\nprint('a', flush=True)\nprint('b', file=sys.stderr)\nprint('c')", nil, "success", "a\nb\nc\n", "")
	check("subprocess output captured", "import os\nos.system('echo from-child')", nil, "success", "from-child\n\nResult: 0", "")
	check("imports persist 1", "import json", nil, "success", "", "")
	check("imports persist 2", "json.dumps([1])", nil, "success", "\nResult: '[1]'", "")
	check("__name__", "print(__name__)", nil, "success", "__main__\n", "")
	check("input is EOF", "try:\n    input()\nexcept EOFError:\n    print('eof')", nil, "success", "eof\n", "")
	check("exception", "print('before')\n1/0", nil, "error", "", "before\nTraceback (most recent call last):")
	_, _, e := nb("1/0", nil)
	if !strings.HasSuffix(strings.TrimSpace(e), "ZeroDivisionError: division by zero") || strings.Contains(e, "kernel") {
		t.Errorf("traceback: %q", e)
	}
	check("SystemExit does not end the kernel", "import sys; sys.exit(3)", nil, "error", "", "SystemExit: 3")
	check("state survives SystemExit", "print(c)", nil, "success", "3\n", "")

	// ms-enclave's interrupt case: statements after the interruption do not run.
	check("timeout", "import time; time.sleep(5); timeout_marker = 1", 1, "timeout", "", "Execution timed out after 1 seconds")
	check("after timeout", "print(globals().get('timeout_marker', 'ABSENT'))", nil, "success", "ABSENT\n", "")
	check("state survives the interrupt", "print(c)", nil, "success", "3\n", "")

	// Processes a cell started die with the interrupt.
	marker := "/tmp/nb_" + randHex(6)
	check("timeout kills children", "import os; os.system('sleep 2; touch "+marker+"')", 0.5, "timeout", "", "Execution timed out after 0.5 seconds")
	markerAbsentLater(marker)(t, s, id)

	// Calls on one notebook are serialised, not interleaved.
	var wg sync.WaitGroup
	var second string
	wg.Add(2)
	go func() { defer wg.Done(); nb("import time; time.sleep(1); serial = 'set'", nil) }()
	time.Sleep(300 * time.Millisecond)
	go func() { defer wg.Done(); _, second, _ = nb("print(serial)", nil) }()
	wg.Wait()
	if second != "set\n" {
		t.Errorf("second call saw %q: calls were not serialised", second)
	}

	// Kernel death: reported by the call, then a fresh kernel.
	check("kernel dies", "import os; os._exit(1)", nil, "error", "", "Execution failed: notebook kernel died (exit code 1); state was lost and a fresh kernel has been started")
	check("fresh kernel", "print(globals().get('c', 'gone'))", nil, "success", "gone\n", "")
}

func TestNotebookOnlyOnNotebookSandboxes(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	id := s.sandbox(t, map[string]any{"tools_config": []string{"notebook_executor", "python_executor"}})
	code, _, body := s.raw(t, "POST", "/sandbox/tool/execute", `{"sandbox_id":"`+id+`","tool_name":"notebook_executor","parameters":{"code":"1"}}`)
	if code != 404 || body != `{"detail":"Tool notebook_executor is not available"}` {
		t.Errorf("notebook on docker: %d %s", code, body)
	}
	nid, err := s.C.CreateSandbox(ctx, "docker_notebook", map[string]any{"tools_config": []string{"python_executor", "shell_executor", "file_operation", "notebook_executor", "multi_code_executor"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.C.DeleteSandbox(ctx, nid)
	info, _ := s.C.GetSandbox(ctx, nid)
	if len(info.AvailableTools) != 5 || info.Type != "docker_notebook" || info.Config["image"] != "jupyter-kernel-gateway" {
		t.Errorf("docker_notebook sandbox: type %s, image %v, %d tools", info.Type, info.Config["image"], len(info.AvailableTools))
	}
}
