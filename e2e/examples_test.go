package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// The examples in examples/ run against a real server.
func TestExamples(t *testing.T) {
	s := startServer(t, "")
	out, err := exec.Command("bash", "../examples/curl/session.sh", s.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"output":"42\n"`) || !strings.Contains(string(out), "notes/hello.txt") || !strings.Contains(string(out), "Sandbox deleted successfully") {
		t.Errorf("curl session: %v\n%s", err, out)
	}
	out, err = exec.Command("go", "run", "../examples/go-client", "-url", s.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `python: status=success output="hello from Go 42\n"`) || !strings.Contains(string(out), `shell: status=success output="2\n"`) {
		t.Errorf("go client example: %v\n%s", err, out)
	}
	out, err = exec.Command("bash", "../examples/curl/long-running.sh", s.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `data: {"stream":"stdout","data":"tick\n"}`) || !strings.Contains(string(out), "event: result") ||
		!strings.Contains(string(out), `served 200`) || !strings.Contains(string(out), `"signal":"SIGTERM"`) || !strings.Contains(string(out), `"expires_at":"`) {
		t.Errorf("long-running curl example: %v\n%s", err, out)
	}
	out, err = exec.Command("bash", "../examples/curl/mcp.sh", s.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"name":"pool_python_executor"`) || !strings.Contains(string(out), `"text":"42\n"`) ||
		!strings.Contains(string(out), `"content":"hello from MCP\n"`) {
		t.Errorf("mcp curl example: %v\n%s", err, out)
	}
	out, err = exec.Command("bash", "../examples/curl/openapi.sh", s.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "openapi 3.1.0") || !strings.Contains(string(out), "POST   /sandbox/tool/execute") {
		t.Errorf("openapi curl example: %v\n%s", err, out)
	}
	out, err = exec.Command("bash", "../examples/curl/snapshots.sh", s.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `from the snapshot: ready\nprepared`) || strings.Count(string(out), `: ready\n`) < 3 ||
		!strings.Contains(string(out), `"paused":true`) || !strings.Contains(string(out), `is paused; POST`) || !strings.Contains(string(out), `after resume: ready`) ||
		!strings.Contains(string(out), `listed: "name":"prepared-`) {
		t.Errorf("snapshots curl example: %v\n%s", err, out)
	}
	// The RL reward step, on a small count: 12 of each 20 candidates are correct.
	out, err = exec.Command("python3", "../examples/rl-reward/reward.py", "--url", s.URL, "-n", "20", "--pool", "2").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "scored 20 solutions") || !strings.Contains(string(out), "mean reward 0.600") ||
		!strings.Contains(string(out), "endless        2 solutions, reward     0  (timeout=2)") {
		t.Errorf("rl-reward python example: %v\n%s", err, out)
	}
	out, err = exec.Command("go", "run", "../examples/rl-reward", "-url", s.URL, "-n", "20", "-pool", "0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "scored 20 solutions") || !strings.Contains(string(out), "mean reward 0.600") {
		t.Errorf("rl-reward go example: %v\n%s", err, out)
	}
	out, err = exec.Command("go", "run", "../examples/go-stream", "-url", s.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `stdout: "step 0\n"`) || !strings.Contains(string(out), `olleh`) || !strings.Contains(string(out), `dlrow`) ||
		!strings.Contains(string(out), "process exited: 0") || !strings.Contains(string(out), `terminal: size "true", exit 0`) {
		t.Errorf("go stream example: %v\n%s", err, out)
	}
}
