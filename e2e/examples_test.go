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
}
