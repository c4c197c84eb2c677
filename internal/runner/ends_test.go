package runner

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// TestPythonCallEnds: how a python call ends, on a standby and forked from
// the runner alike, is how `python script.py` ends: its exit status, its
// atexit output, the status of its own process (not of a child it forked
// that ran to the end of the script), all the output of a grandchild that
// holds stdout, and no fd of the runner's in a program it runs.
func TestPythonCallEnds(t *testing.T) {
	tests := []struct {
		name, src, out string
		code           int
	}{
		{"exit code", "import sys\nprint('a')\nsys.exit(3)", "a\n", 3},
		{"SystemExit", "print('a')\nraise SystemExit(5)", "a\n", 5},
		{"os._exit", "import os\nprint('a', flush=True)\nos._exit(6)", "a\n", 6},
		// As in python: SystemExit in an atexit function is ignored.
		{"atexit output", "import atexit, sys\natexit.register(lambda: (print('bye'), sys.exit(8)))\nprint('a')", "a\nbye\n", 0},
		{"forked child ends first", "import os, sys\npid = os.fork()\nif pid == 0:\n    print('child', flush=True)\nelse:\n    os.waitpid(pid, 0)\n    print('parent', flush=True)\n    sys.exit(7)", "child\nparent\n", 7},
		{"grandchild holds stdout", "import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 0.3; echo late'])\nprint('early', flush=True)", "early\nlate\n", 0},
		// The OOM killer's first choice (the runner must outlive its calls).
		{"oom_score_adj", "print(open('/proc/self/oom_score_adj').read().strip())", "1000\n", 0},
		// ls's own directory fd is 3.
		{"a program sees only its stdio", "import os\nos.system('ls /proc/self/fd | grep -v \"^3$\" | tr \"\\\\n\" \" \"')", "0 1 2 ", 0},
	}
	for _, o := range variants() {
		t.Run(variantName(o), func(t *testing.T) {
			r := startVariant(t, o)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					script := &tool.PythonScript{Path: filepath.Join(t.TempDir(), "exec_script_s.py"), Source: []byte(tt.src)}
					res, err := r.Exec(context.Background(), sdk.ExecRequest{}, script)
					if err != nil {
						t.Fatal(err)
					}
					if string(res.Stdout) != tt.out || res.ExitCode != tt.code {
						t.Errorf("got %q (stderr %q) code %d, want %q code %d", res.Stdout, res.Stderr, res.ExitCode, tt.out, tt.code)
					}
				})
			}
		})
	}
}
