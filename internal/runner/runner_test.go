package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/sdktest"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// localRunner starts runner.py on this machine through sdktest.LocalHost
// sessions: the protocol and process rules without a container.
func localRunner(t *testing.T) *Runner {
	return localRunnerWith(t, Options{Standbys: 1})
}

func localRunnerWith(t *testing.T, opts Options) *Runner {
	t.Helper()
	host := sdktest.NewLocalHost(t)
	r, err := Start(context.Background(), context.Background(), func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error) {
		return host.Session(ctx, host.ID, req)
	}, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// variants are the ways a runner runs calls: on a standby of the fork
// server or forked from the runner (no standbys, or after the fork server
// was lost), with the protocol on the session or on a channel.
func variants() []Options {
	var v []Options
	for _, standbys := range []int{1, 0} {
		for _, ch := range []bool{false, true} {
			o := Options{Standbys: standbys}
			if ch {
				o.Channel = &Channel{} // its directory: per test (withChannelDir)
			}
			v = append(v, o)
		}
	}
	return v
}

func variantName(o Options) string {
	return fmt.Sprintf("standbys=%d,channel=%v", o.Standbys, o.Channel != nil)
}

// startVariant starts a local runner as o says; a channel's directory is
// the same path on the host and in the "sandbox" (this machine).
func startVariant(t *testing.T, o Options) *Runner {
	t.Helper()
	if o.Channel != nil {
		d := t.TempDir()
		o.Channel = &Channel{HostDir: d, SandboxDir: d}
	}
	r := localRunnerWith(t, o)
	if r.OnChannel() != (o.Channel != nil) {
		t.Fatalf("on the channel: %v, want %v", r.OnChannel(), o.Channel != nil)
	}
	return r
}

// TestExec: the semantics of a call, in every variant.
func TestExec(t *testing.T) {
	for _, o := range variants() {
		t.Run(variantName(o), func(t *testing.T) {
			testExec(t, startVariant(t, o))
		})
	}
}

func testExec(t *testing.T, r *Runner) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name     string
		req      sdk.ExecRequest
		script   *tool.PythonScript
		out, err string
		code     int
		timedOut bool
	}{
		{"argv", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}, nil, "out\n", "err\n", 3, false},
		{"env and cwd", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo $X; pwd"}, Env: map[string]string{"X": "y"}, WorkingDir: dir}, nil, "y\n" + dir + "\n", "", 0, false},
		{"stdin then EOF", sdk.ExecRequest{Argv: []string{"cat"}, Stdin: []byte("in")}, nil, "in", "", 0, false},
		{"stdin closed", sdk.ExecRequest{Argv: []string{"cat"}}, nil, "", "", 0, false},
		{"signal exit", sdk.ExecRequest{Argv: []string{"sh", "-c", "kill -9 $$"}}, nil, "", "", 137, false},
		{"missing program", sdk.ExecRequest{Argv: []string{"no-such-program-x"}}, nil, "", "no-such-program-x: No such file or directory\n", 127, false},
		{"deadline", sdk.ExecRequest{Argv: []string{"sleep", "5"}, Timeout: 200 * time.Millisecond}, nil, "", "", 143, true},
		{"python", sdk.ExecRequest{}, &tool.PythonScript{Path: filepath.Join(dir, "exec_script_a.py"), Source: []byte("import sys\nprint(__name__, sys.argv[0] == __file__)\nsys.exit(4)")}, "__main__ True\n", "", 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Exec(ctx, tt.req, tt.script)
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
	res, err := r.Exec(context.Background(), sdk.ExecRequest{}, &tool.PythonScript{Path: path, Source: []byte("x = 1\nraise ValueError('boom')\n")})
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
	res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"sh", "-c", "head -c 5000 /dev/zero"}, MaxOutputBytes: 100}, nil)
	if err != nil || len(res.Stdout) != 100 || !res.StdoutTruncated {
		t.Errorf("cap: %d bytes truncated=%v err=%v", len(res.Stdout), res.StdoutTruncated, err)
	}
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 0.2; echo " + strings.Repeat("x", i)}}, nil)
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
	res, err := r.Exec(ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", "(sleep 1; touch " + marker + ") & wait"}}, nil)
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

// TestStdinIsolation: stdin a call never reads neither kills nor freezes the
// runner, and a concurrent call is unaffected.
func TestStdinIsolation(t *testing.T) {
	r := localRunner(t)
	ctx := context.Background()
	big := []byte(strings.Repeat("x", 200<<10))
	other := make(chan sdk.ExecResult, 1)
	go func() {
		res, _ := r.Exec(ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 0.3; echo other"}}, nil)
		other <- res
	}()
	tests := []struct {
		name     string
		req      sdk.ExecRequest
		code     int
		timedOut bool
	}{
		{"reader exits at once", sdk.ExecRequest{Argv: []string{"true"}, Stdin: big}, 0, false},
		{"reader never reads", sdk.ExecRequest{Argv: []string{"sleep", "30"}, Stdin: big, Timeout: 500 * time.Millisecond, KillGrace: 100 * time.Millisecond}, 143, true},
		{"reader reads all", sdk.ExecRequest{Argv: []string{"sh", "-c", "wc -c"}, Stdin: big}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Exec(ctx, tt.req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.code || res.TimedOut != tt.timedOut {
				t.Errorf("code %d timedOut %v, want %d %v (stderr %q)", res.ExitCode, res.TimedOut, tt.code, tt.timedOut, res.Stderr)
			}
		})
	}
	if res := <-other; string(res.Stdout) != "other\n" {
		t.Errorf("concurrent call: %+v", res)
	}
	if r.Dead() {
		t.Fatal("runner died")
	}
	res, err := r.Exec(ctx, sdk.ExecRequest{Stdin: big}, &tool.PythonScript{Path: filepath.Join(t.TempDir(), "s.py"), Source: []byte("import sys; print(len(sys.stdin.read()))")})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "204800" {
		t.Errorf("python call with stdin: %q %v", res.Stdout, err)
	}
}

// TestWedgedRunnerIsReplaced: a call that stops its runner gets a timed-out
// answer within its bound, and the runner is ended (the manager starts a
// fresh one).
func TestWedgedRunnerIsReplaced(t *testing.T) {
	r := localRunner(t)
	stop := fmt.Sprintf("kill -STOP %d; sleep 30", r.Pid)
	res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"sh", "-c", stop}, Timeout: 300 * time.Millisecond, KillGrace: 100 * time.Millisecond}, nil)
	if err != nil || !res.TimedOut {
		t.Fatalf("got %+v %v, want a timed-out result", res, err)
	}
	select {
	case <-r.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("wedged runner still alive")
	}
	if !errors.Is(r.Cause(), ErrWedged) {
		t.Errorf("cause %v, want ErrWedged", r.Cause())
	}
}

// TestSweep runs the runner in a fresh PID namespace as in a container
// (exec'd processes have no parent there; the oldest child of PID 1 is the
// sandbox's own command, here a sleep): a sweep kills what an earlier call
// left behind and spares a call still running and the sandbox's command.
func TestSweep(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace (unshare)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare")
	}
	host := sdktest.NewLocalHost(t)
	r, err := Start(context.Background(), context.Background(), func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error) {
		req.Argv = append([]string{"unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", `sleep 1000 </dev/null >/dev/null 2>&1 & exec "$@"`, "init"}, req.Argv...)
		return host.Session(ctx, host.ID, req)
	}, Options{Standbys: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ctx := context.Background()
	count := sdk.ExecRequest{Argv: []string{"sh", "-c", "grep -l '^sleep$' /proc/[0-9]*/comm 2>/dev/null | wc -l"}}
	if res, err := r.Exec(ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", "setsid sleep 300 </dev/null >/dev/null 2>&1 & sleep 300 </dev/null >/dev/null 2>&1 &"}}, nil); err != nil || res.ExitCode != 0 {
		t.Fatalf("leave processes behind: %+v %v", res, err)
	}
	if res, _ := r.Exec(ctx, count, nil); strings.TrimSpace(string(res.Stdout)) != "3" {
		t.Fatalf("%q sleeps before the sweep, want the command's and 2 left behind", res.Stdout)
	}
	running := make(chan sdk.ExecResult, 1)
	go func() {
		res, _ := r.Exec(ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 1; echo alive"}}, nil)
		running <- res
	}()
	n, err := r.Sweep(ctx)
	if err != nil || n < 2 {
		t.Errorf("sweep killed %d (%v), want >= 2", n, err)
	}
	if res := <-running; string(res.Stdout) != "alive\n" {
		t.Errorf("a running call was swept: %+v", res)
	}
	if res, _ := r.Exec(ctx, count, nil); strings.TrimSpace(string(res.Stdout)) != "1" {
		t.Errorf("%q sleeps after the sweep, want only the sandbox command's", res.Stdout)
	}
	if !r.ForkServer || !onForkServer(t, r) || r.ForkServerLost() {
		t.Error("after a sweep calls no longer run on the fork server: it or its standbys were swept")
	}
}

// TestSweepRefusedOnHost: outside a container the sweep does nothing.
func TestSweepRefusedOnHost(t *testing.T) {
	r := localRunner(t)
	if n, err := r.Sweep(context.Background()); err != nil || n != 0 {
		t.Errorf("sweep on the host killed %d (%v)", n, err)
	}
}
