package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCustomToolExample builds examples/custom-tool (its own module), installs
// it beside the built-in plugins and calls it through a real server.
func TestCustomToolExample(t *testing.T) {
	binDir, podmanURL := requireEnv(t)
	plugins := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(plugins, "enclave-tool-search_files"), ".")
	build.Dir = "../examples/custom-tool"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(filepath.Join(binDir, "plugins"))
	for _, e := range entries {
		os.Symlink(filepath.Join(binDir, "plugins", e.Name()), filepath.Join(plugins, e.Name()))
	}
	out, err := exec.Command(filepath.Join(binDir, "enclave"), "plugins", "--plugin-dir", plugins).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "search_files") {
		t.Errorf("enclave plugins: %v\n%s", err, out)
	}
	s := startServerAs(t, serverSetup{binDir: binDir, podmanURL: podmanURL}, "", "--plugin-dir", plugins)
	id := s.sandbox(t, map[string]any{"tools_config": []string{"search_files", "file_operation"}})
	_, _, tools := s.raw(t, "GET", "/sandbox/"+id+"/tools", "")
	if !strings.HasPrefix(tools, `{"search_files":{"type":"function","function":{"name":"search_files"`) {
		t.Errorf("tools = %s", tools)
	}
	s.exec(t, id, "file_operation", map[string]any{"operation": "write", "file_path": "src/app.py", "content": "import os\n# TODO: fix\n"})
	s.exec(t, id, "file_operation", map[string]any{"operation": "write", "file_path": "src/notes.txt", "content": "TODO later\n"})
	r := s.exec(t, id, "search_files", map[string]any{"pattern": "TODO", "path": "src", "glob": "*.py"})
	var got struct {
		Matches []struct {
			File string `json:"file"`
			Line int    `json:"line"`
			Text string `json:"text"`
		} `json:"matches"`
	}
	if err := json.Unmarshal([]byte(r.Output), &got); err != nil || r.Status != "success" || len(got.Matches) != 1 ||
		got.Matches[0].File != "src/app.py" || got.Matches[0].Line != 2 || got.Matches[0].Text != "# TODO: fix" {
		t.Errorf("search_files = %s %q %s", r.Status, r.Output, errText(r))
	}
	code, _, body := s.raw(t, "POST", "/sandbox/tool/execute", `{"sandbox_id":"`+id+`","tool_name":"search_files","parameters":{"pattern":1}}`)
	if code != 422 || body != `{"detail":"Invalid parameters for tool search_files: parameter 'pattern' must be a string"}` {
		t.Errorf("validation by the host: %d %s", code, body)
	}
}
