package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk/sdktest"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// The contract suite serves the plugin over go-plugin's real gRPC transport
// and runs it against a stand-in sandbox on this machine (sdktest.LocalHost).
func TestContract(t *testing.T) {
	matches := func(want ...Match) func(*testing.T, tool.Result) {
		return func(t *testing.T, r tool.Result) {
			var out Output
			if err := json.Unmarshal([]byte(r.Output), &out); err != nil || r.Status != "success" {
				t.Fatalf("%s %q: %v", r.Status, r.Output, err)
			}
			if len(out.Matches) != len(want) {
				t.Fatalf("matches %+v, want %+v", out.Matches, want)
			}
			for i := range want {
				if out.Matches[i] != want[i] {
					t.Errorf("match %d = %+v, want %+v", i, out.Matches[i], want[i])
				}
			}
		}
	}
	sdktest.RunTool(t, searchFiles{},
		sdktest.ToolCase{Name: "no match", Params: `{"pattern":"nothing-matches-this"}`, Check: matches()},
		sdktest.ToolCase{Name: "bad pattern", Params: `{"pattern":"("}`, Check: func(t *testing.T, r tool.Result) {
			if r.Status != "error" || r.Error == nil {
				t.Errorf("bad regexp: %+v", r)
			}
		}},
	)
}

// TestSearch runs the real search through the shims against files in the
// stand-in sandbox.
func TestSearch(t *testing.T) {
	host := sdktest.NewLocalHost(t)
	os.MkdirAll(filepath.Join(host.Dir, "src"), 0o755)
	os.WriteFile(filepath.Join(host.Dir, "src", "a.py"), []byte("import os\n# TODO: fix\nprint('x')\n"), 0o644)
	os.WriteFile(filepath.Join(host.Dir, "src", "b.txt"), []byte("TODO too\n"), 0o644)
	c := sdktest.ToolClient(t, searchFiles{}, host)
	res, err := c.Execute(t.Context(), host.Info(), tool.Call{Name: "search_files", Params: json.RawMessage(`{"pattern":"TODO","path":"src","glob":"*.py"}`),
		MaxDuration: sdktest.DefaultMaxDuration, MaxOutputBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	json.Unmarshal([]byte(res.Output), &out)
	if len(out.Matches) != 1 || out.Matches[0] != (Match{File: "src/a.py", Line: 2, Text: "# TODO: fix"}) {
		t.Errorf("search = %s", res.Output)
	}
}
