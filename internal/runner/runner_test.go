package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/sdktest"
)

// localRunner starts runner.py on this machine through sdktest.LocalHost
// sessions: the protocol and process rules without a container.
func localRunner(t *testing.T) *Runner {
	t.Helper()
	host := sdktest.NewLocalHost(t)
	r, err := Start(context.Background(), context.Background(), func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error) {
		return host.Session(ctx, host.ID, req)
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

func TestExec(t *testing.T) {
	r := localRunner(t)
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name     string
		req      sdk.ExecRequest
		out, err string
		code     int
		timedOut bool
	}{
		{"argv", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}, "out\n", "err\n", 3, false},
		{"env and cwd", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo $X; pwd"}, Env: map[string]string{"X": "y"}, WorkingDir: dir}, "y\n" + dir + "\n", "", 0, false},
		{"stdin then EOF", sdk.ExecRequest{Argv: []string{"cat"}, Stdin: []byte("in")}, "in", "", 0, false},
		{"stdin closed", sdk.ExecRequest{Argv: []string{"cat"}}, "", "", 0, false},
		{"signal exit", sdk.ExecRequest{Argv: []string{"sh", "-c", "kill -9 $$"}}, "", "", 137, false},
		{"missing program", sdk.ExecRequest{Argv: []string{"no-such-program-x"}}, "", "no-such-program-x: No such file or directory\n", 127, false},
		{"deadline", sdk.ExecRequest{Argv: []string{"sleep", "5"}, Timeout: 200 * time.Millisecond}, "", "", 143, true},
		{"python", sdk.ExecRequest{Python: &sdk.PythonScript{Path: filepath.Join(dir, "exec_script_a.py"), Source: []byte("import sys\nprint(__name__, sys.argv[0] == __file__)\nsys.exit(4)")}}, "__main__ True\n", "", 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Exec(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Stdout) != tt.out || string(res.Stderr) != tt.err || res.ExitCode != tt.code || res.TimedOut != tt.timedOut {
				t.Errorf("got %q %q %d timedOut=%v, want %q %q %d %v", res.Stdout, res.Stderr, res.ExitCode, res.TimedOut, tt.out, tt.err, tt.code, tt.timedOut)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "exec_script_a.py")); !os.IsNotExist(err) {
		t.Errorf("python script left behind: %v", err)
	}
}

func TestTraceback(t *testing.T) {
	r := localRunner(t)
	path := filepath.Join(t.TempDir(), "exec_script_b.py")
	res, err := r.Exec(context.Background(), sdk.ExecRequest{Python: &sdk.PythonScript{Path: path, Source: []byte("x = 1\nraise ValueError('boom')\n")}})
	if err != nil {
		t.Fatal(err)
	}
	want := "Traceback (most recent call last):\n  File \"" + path + "\", line 2, in <module>\n    raise ValueError('boom')\nValueError: boom\n"
	if string(res.Stderr) != want || res.ExitCode != 1 {
		t.Errorf("traceback:\n%s\nwant\n%s", res.Stderr, want)
	}
}

func TestCapsAndConcurrency(t *testing.T) {
	r := localRunner(t)
	res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"sh", "-c", "head -c 5000 /dev/zero"}, MaxOutputBytes: 100})
	if err != nil || len(res.Stdout) != 100 || !res.StdoutTruncated {
		t.Errorf("cap: %d bytes truncated=%v err=%v", len(res.Stdout), res.StdoutTruncated, err)
	}
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 0.2; echo " + strings.Repeat("x", i)}})
			if err != nil {
				done <- err.Error()
				return
			}
			done <- strings.TrimSpace(string(res.Stdout))
		}(i)
	}
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		seen[<-done] = true
	}
	for i := 0; i < 8; i++ {
		if !seen[strings.Repeat("x", i)] {
			t.Errorf("concurrent call %d lost its output (%v)", i, seen)
		}
	}
}

func TestCancelKillsGroup(t *testing.T) {
	r := localRunner(t)
	marker := filepath.Join(t.TempDir(), "m")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := r.Exec(ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", "(sleep 1; touch " + marker + ") & wait"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Killed {
		t.Errorf("Killed = false after cancellation")
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a grandchild of the cancelled call survived")
	}
}
