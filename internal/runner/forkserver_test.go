package runner

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// parentOf is a call that prints its parent's pid and that parent's parent.
var parentOf = sdk.ExecRequest{Argv: []string{"sh", "-c", `echo $PPID $(sed 's/.*) . //' /proc/$PPID/stat | cut -d' ' -f1)`}}

// onForkServer reports whether a call ran on a child of the fork server
// (its parent is not the runner; its grandparent is).
func onForkServer(t *testing.T, r *Runner) bool {
	t.Helper()
	res, err := r.Exec(context.Background(), parentOf, nil)
	f := strings.Fields(string(res.Stdout))
	if err != nil || res.ExitCode != 0 || len(f) != 2 {
		t.Fatalf("parent of a call: %+v %v", res, err)
	}
	return f[0] != strconv.Itoa(r.Pid) && f[1] == strconv.Itoa(r.Pid)
}

// TestForkServer: calls run on the fork server's standbys; standbys killed
// unused are replaced; and a call that stops or kills the fork server loses
// nothing: its own result is exact, and later calls fork from the runner.
func TestForkServer(t *testing.T) {
	tests := []struct {
		name       string
		req        sdk.ExecRequest
		out        string
		code       int
		timedOut   bool
		forkServer bool // after the call
	}{
		{"plain call", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo hi; exit 3"}}, "hi\n", 3, false, true},
		{"fork server stopped", sdk.ExecRequest{Argv: []string{"sh", "-c", "echo hi; kill -STOP $PPID; sleep 30"}, Timeout: 300 * time.Millisecond, KillGrace: 100 * time.Millisecond}, "hi\n", 143, true, false},
		{"standbys killed", sdk.ExecRequest{Argv: []string{"sh", "-c", "for p in $(pgrep -P $PPID); do [ $p = $$ ] || kill -KILL $p; done; echo killed"}}, "killed\n", 0, false, true},
		{"fork server killed", sdk.ExecRequest{Argv: []string{"sh", "-c", "kill -KILL $PPID; echo after; exit 4"}}, "after\n", 4, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := localRunner(t)
			if !r.ForkServer || !onForkServer(t, r) {
				t.Fatalf("fork server %v: a call does not run on it", r.ForkServer)
			}
			res, err := r.Exec(context.Background(), tt.req, nil)
			if err != nil || string(res.Stdout) != tt.out || res.ExitCode != tt.code || res.TimedOut != tt.timedOut {
				t.Fatalf("got %q %d timedOut=%v (%v), want %q %d %v", res.Stdout, res.ExitCode, res.TimedOut, err, tt.out, tt.code, tt.timedOut)
			}
			if r.ForkServerLost() == tt.forkServer {
				t.Errorf("ForkServerLost %v after the call", r.ForkServerLost())
			}
			for i := 0; i < 3; i++ {
				if got := onForkServer(t, r); got != tt.forkServer {
					t.Errorf("call %d after: on the fork server %v, want %v", i, got, tt.forkServer)
				}
			}
			if r.Dead() {
				t.Fatalf("runner died: %v", r.Cause())
			}
		})
	}
}

// TestForkServerLargeRequest: a request over one socket message (a long
// script, a large stdin) still starts on a standby.
func TestForkServerLargeRequest(t *testing.T) {
	r := localRunner(t)
	src := fmt.Sprintf("import os, sys\ns = %q\nprint(len(s), len(sys.stdin.read()), os.getppid() != %d)", strings.Repeat("y", 100<<10), r.Pid)
	res, err := r.Exec(context.Background(), sdk.ExecRequest{Stdin: []byte(strings.Repeat("x", 300<<10))},
		&tool.PythonScript{Path: filepath.Join(t.TempDir(), "big.py"), Source: []byte(src)})
	if want := fmt.Sprintf("%d %d True\n", 100<<10, 300<<10); err != nil || string(res.Stdout) != want {
		t.Errorf("got %q %q (%v), want %q", res.Stdout, res.Stderr, err, want)
	}
}

// scanSelf prints whether a secret (given by its SHA-256, never itself)
// follows the marker anywhere in the calling process's own memory.
const scanSelf = `import hashlib, os
target = bytes.fromhex("%s")
marker = b"ENCLAVE-" + b"SECRET-"
found = False
fd = os.open("/proc/self/mem", os.O_RDONLY)
for line in open("/proc/self/maps"):
    f = line.split()
    if not f[1].startswith("rw"):
        continue
    a, b = (int(x, 16) for x in f[0].split("-"))
    try:
        data = os.pread(fd, b - a, a)
    except OSError:
        continue
    i = data.find(marker)
    while i >= 0:
        found = found or hashlib.sha256(data[i + len(marker):i + len(marker) + 32]).hexdigest() == "%s"
        i = data.find(marker, i + 1)
print("found" if found else "clean")
`

// TestCallsDoNotInheritOtherCalls: a call's memory holds nothing of another
// call's request (here a stdin the runner is still feeding), because calls
// are forked from a fork server that predates every request. Forked from
// the runner (no standbys) the same call finds it: the check can fail.
func TestCallsDoNotInheritOtherCalls(t *testing.T) {
	for _, tt := range []struct {
		name     string
		standbys int
		want     string
	}{{"fork server", 1, "clean"}, {"forked from the runner", 0, "found"}} {
		t.Run(tt.name, func(t *testing.T) {
			r := localRunnerWith(t, Options{Standbys: tt.standbys})
			b := make([]byte, 16)
			if _, err := rand.Read(b); err != nil {
				t.Fatal(err)
			}
			secret := hex.EncodeToString(b)
			sum := sha256.Sum256([]byte(secret))
			// A call that never reads its stdin: the runner holds what the
			// pipe cannot, for as long as the call runs.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			started := make(chan struct{})
			holder := make(chan error, 1)
			go func() {
				var once bool
				_, err := r.ExecStream(ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", "echo started; sleep 60"}, Stdin: []byte(strings.Repeat("ENCLAVE-SECRET-"+secret, 10000))}, nil,
					func(string, []byte) {
						if !once {
							once = true
							close(started)
						}
					})
				holder <- err
			}()
			select {
			case <-started:
			case err := <-holder:
				t.Fatalf("holder ended: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("holder did not start")
			}
			src := fmt.Sprintf(scanSelf, hex.EncodeToString(sum[:]), hex.EncodeToString(sum[:]))
			res, err := r.Exec(context.Background(), sdk.ExecRequest{}, &tool.PythonScript{Path: filepath.Join(t.TempDir(), "scan.py"), Source: []byte(src)})
			if err != nil || strings.TrimSpace(string(res.Stdout)) != tt.want {
				t.Errorf("scan: %q %q (%v), want %s", res.Stdout, res.Stderr, err, tt.want)
			}
			cancel()
			<-holder
		})
	}
}

// childrenOf lists the pids whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// readyStandby waits (bounded) until the runner's fork server has a
// standby and returns its pid.
func readyStandby(t *testing.T, r *Runner) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, fs := range childrenOf(t, r.Pid) {
			if kids := childrenOf(t, fs); len(kids) == 1 {
				return kids[0]
			}
		}
	}
	t.Fatal("no standby within 10 s")
	return 0
}

// TestKilledBeforeTaken: a call killed (by its caller, or by its deadline)
// while its standby has not taken it yet ends killed or timed out and never
// runs: the runner does not relaunch it on the next standby. The standby
// is stopped so that it cannot take the call first (SIGTERM at the deadline
// waits for it; SIGKILL after the grace does not).
func TestKilledBeforeTaken(t *testing.T) {
	tests := []struct {
		name     string
		timeout  time.Duration
		cancel   time.Duration
		code     int
		timedOut bool
		killed   bool
	}{
		{"caller gone", 0, 300 * time.Millisecond, 137, false, true},
		{"deadline", 300 * time.Millisecond, 0, 137, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := localRunner(t)
			if !onForkServer(t, r) {
				t.Fatal("a call does not run on the fork server")
			}
			standby := readyStandby(t, r)
			if err := syscall.Kill(standby, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			marker := filepath.Join(t.TempDir(), "ran")
			ctx := context.Background()
			if tt.cancel > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.cancel)
				defer cancel()
			}
			res, err := r.Exec(ctx, sdk.ExecRequest{Argv: []string{"touch", marker}, Timeout: tt.timeout, KillGrace: 100 * time.Millisecond}, nil)
			if err != nil || res.ExitCode != tt.code || res.TimedOut != tt.timedOut || res.Killed != tt.killed {
				t.Errorf("got %+v (%v), want code %d timedOut %v killed %v", res, err, tt.code, tt.timedOut, tt.killed)
			}
			// A later call's reply comes after anything the runner would
			// have relaunched for the killed one had started.
			if res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 0.5; echo next"}}, nil); err != nil || string(res.Stdout) != "next\n" {
				t.Fatalf("next call: %+v %v", res, err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the killed call ran")
			}
		})
	}
}
