package execwrap

import (
	"bytes"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
)

func TestEnvListAndSeconds(t *testing.T) {
	if got := EnvList(map[string]string{"B": "2", "A": "1=x"}); !slices.Equal(got, []string{"A=1=x", "B=2"}) {
		t.Errorf("envList = %q", got)
	}
	if got := Seconds(1500 * time.Millisecond); got != "1.500" {
		t.Errorf("fmtSeconds = %q", got)
	}
}

// runWrapper runs the exec wrapper on this machine's sh and GNU timeout,
// as the container runs it.
func runWrapper(t *testing.T, grace, timeout time.Duration, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Skip("no GNU timeout here")
	}
	return runArgv(t, Argv(sdk.ExecRequest{Argv: argv, KillGrace: grace, Timeout: timeout}))
}

func runArgv(t *testing.T, argv []string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var o, e bytes.Buffer
	mw := NewMarkerWriter(&e)
	cmd.Stdout, cmd.Stderr = &o, mw
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if _, ok := mw.PID(); !ok {
		t.Errorf("no marker line; stderr %q", e.String())
	}
	return o.String(), e.String(), code
}

func TestExecWrapper(t *testing.T) {
	out, errOut, code := runWrapper(t, time.Second, 10*time.Second, "sh", "-c", "echo out; echo err >&2; exit 3")
	if out != "out\n" || errOut != "err\n" || code != 3 {
		t.Errorf("plain run: %q %q %d", out, errOut, code)
	}
	// At the deadline the whole group gets TERM, and timeout says so.
	_, errOut, code = runWrapper(t, time.Second, 200*time.Millisecond, "sh", "-c", "sleep 5 & sleep 5")
	stripped, fired := StripTimeoutLines([]byte(errOut))
	if code != 124 || !fired || strings.TrimSpace(string(stripped)) != "" {
		t.Errorf("deadline: code %d fired %v stderr %q", code, fired, errOut)
	}
	// A command that exits 124 by itself is not a timeout.
	_, errOut, code = runWrapper(t, time.Second, 10*time.Second, "sh", "-c", "exit 124")
	if _, fired := StripTimeoutLines([]byte(errOut)); code != 124 || fired {
		t.Errorf("exit 124: code %d fired %v", code, fired)
	}
}

// TestInlineArgv: the wrapper itself enters the working dir and sets the
// environment (values with spaces, quotes and '=' survive), for runtimes
// whose exec has neither.
func TestInlineArgv(t *testing.T) {
	if _, err := exec.LookPath("timeout"); err != nil {
		t.Skip("no GNU timeout here")
	}
	dir := t.TempDir()
	req := sdk.ExecRequest{Argv: []string{"sh", "-c", `pwd; printf '%s|%s\n' "$A" "$B"`}, WorkingDir: dir,
		Env: map[string]string{"A": "x y 'z'", "B": "1=2"}, Timeout: 10 * time.Second}
	out, errOut, code := runArgv(t, InlineArgv(req))
	if want := dir + "\nx y 'z'|1=2\n"; out != want || errOut != "" || code != 0 {
		t.Errorf("inline: out %q stderr %q code %d, want %q", out, errOut, code, want)
	}
	req.WorkingDir = dir + "/missing"
	argv := InlineArgv(req)
	if err := exec.Command(argv[0], argv[1:]...).Run(); err == nil || err.(*exec.ExitError).ExitCode() != 126 {
		t.Errorf("missing working dir: %v, want exit code 126", err)
	}
	cmd := exec.Command("sh", SessionArgv(sdk.ExecRequest{Argv: []string{"sh", "-c", `echo "$A"`}, Env: map[string]string{"A": "s"}}, true)[1:]...)
	out2, err := cmd.Output()
	if err != nil || string(out2) != "s\n" {
		t.Errorf("inline session: %q, %v", out2, err)
	}
}
