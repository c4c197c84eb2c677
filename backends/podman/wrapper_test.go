package main

import (
	"bytes"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEnvListAndSeconds(t *testing.T) {
	if got := envList(map[string]string{"B": "2", "A": "1=x"}); !slices.Equal(got, []string{"A=1=x", "B=2"}) {
		t.Errorf("envList = %q", got)
	}
	if got := fmtSeconds(1500 * time.Millisecond); got != "1.500" {
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
	cmd := exec.Command("sh", append([]string{"-c", execWrapper, "enclave-exec", fmtSeconds(grace), fmtSeconds(timeout)}, argv...)...)
	var o, e bytes.Buffer
	mw := newMarkerWriter(&e)
	cmd.Stdout, cmd.Stderr = &o, mw
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	select {
	case pid := <-mw.pid:
		if pid <= 0 {
			t.Errorf("marker pid %d", pid)
		}
	default:
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
	stripped, fired := stripTimeoutLines([]byte(errOut))
	if code != 124 || !fired || strings.TrimSpace(string(stripped)) != "" {
		t.Errorf("deadline: code %d fired %v stderr %q", code, fired, errOut)
	}
	// A command that exits 124 by itself is not a timeout.
	_, errOut, code = runWrapper(t, time.Second, 10*time.Second, "sh", "-c", "exit 124")
	if _, fired := stripTimeoutLines([]byte(errOut)); code != 124 || fired {
		t.Errorf("exit 124: code %d fired %v", code, fired)
	}
}
