package e2e

// The chaos suite (make test-chaos): a flaky host and hostile code while
// pool callers keep calling. Every call must get an answer; a successful
// answer must be the call's own output (never another call's, never
// forged); pool callers never see a member's death; nothing is leaked.
// Each case is bounded in time.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

// callers runs n pool callers, each printing its own token per call, until
// stop is closed. It returns the tallies: ok answers, explicit errors and
// the problems found (hangs, forged or foreign output).
type tally struct {
	mu       sync.Mutex
	ok, errs int
	problems []string
	errTexts []string
}

func runCallers(t *testing.T, s *server, n int, stop <-chan struct{}) (*tally, func()) {
	t.Helper()
	tl := &tally{}
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := client.New(s.URL, "")
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				token := fmt.Sprintf("caller-%d-call-%d-%s", w, i, randHex(4))
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				r, err := c.ExecuteInPool(ctx, "python_executor", map[string]any{"code": fmt.Sprintf("print(%q)", token), "timeout": 20}, 60)
				hung := ctx.Err() != nil
				cancel()
				tl.mu.Lock()
				switch {
				case hung:
					tl.problems = append(tl.problems, "a pool call got no answer within 90 s")
				case err != nil:
					tl.errs++
					tl.errTexts = append(tl.errTexts, err.Error())
				case r.Status == "success" && r.Output == token+"\n":
					tl.ok++
				case r.Status == "success":
					tl.problems = append(tl.problems, fmt.Sprintf("forged or foreign output %q for %s", r.Output, token))
				default:
					tl.errs++
					tl.errTexts = append(tl.errTexts, r.Status+": "+errText(r))
				}
				tl.mu.Unlock()
			}
		}(w)
	}
	return tl, wg.Wait
}

// check fails the test on problems, and on errors when none are allowed.
func (tl *tally) check(t *testing.T, what string, errorsAllowed bool) {
	t.Helper()
	t.Logf("%s: %d ok, %d explicit errors", what, tl.ok, tl.errs)
	if len(tl.problems) > 0 {
		t.Errorf("%s: %d problems, first: %s", what, len(tl.problems), tl.problems[0])
	}
	if tl.ok == 0 {
		t.Errorf("%s: no call succeeded", what)
	}
	if !errorsAllowed && tl.errs > 0 {
		t.Errorf("%s: pool callers saw %d errors, first: %s", what, tl.errs, tl.errTexts[0])
	}
}

// during runs callers while act runs, and for 3 s after it (the
// aftermath: replacements, restarts).
func during(t *testing.T, s *server, n int, act func()) *tally {
	stop := make(chan struct{})
	tl, wait := runCallers(t, s, n, stop)
	act()
	time.Sleep(3 * time.Second)
	close(stop)
	wait()
	return tl
}

// killAndWait SIGKILLs pid and waits (bounded) until it is gone.
func killAndWait(t *testing.T, pid int) {
	t.Helper()
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
			return
		}
		if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(st), ") Z ") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d survived SIGKILL", pid)
}

func chaosPool(t *testing.T, s *server, n int) []string {
	t.Helper()
	res, err := s.C.InitializePool(context.Background(), n, "docker", poolTools)
	if err != nil || len(res.SandboxIDs) != n {
		t.Fatalf("initialize pool: %+v %v", res, err)
	}
	return res.SandboxIDs
}

func TestChaosPodmanRmPoolMembers(t *testing.T) {
	s := startServer(t, "")
	ids := chaosPool(t, s, 3)
	tl := during(t, s, 4, func() {
		for _, id := range ids[:2] {
			info, err := s.C.GetSandbox(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			podmanRm(t, s.Podman, info.Metadata["container_id"].(string))
			time.Sleep(300 * time.Millisecond) // let calls land between the removals
		}
	})
	tl.check(t, "podman rm -f of pool members during calls", false)
	// Sandboxes used by id: a removed container is an error, not a hang.
	id := s.sandbox(t, nil)
	info, _ := s.C.GetSandbox(context.Background(), id)
	podmanRm(t, s.Podman, info.Metadata["container_id"].(string))
	if r, err := s.C.ExecuteTool(context.Background(), id, "python_executor", map[string]any{"code": "print(1)"}); err == nil && r.Status == "success" {
		t.Errorf("a call on a removed sandbox succeeded: %+v", r)
	}
}

func TestChaosKillPlugins(t *testing.T) {
	s := startServer(t, "")
	chaosPool(t, s, 3)
	for _, name := range []string{"enclave-tool-python_executor", "enclave-backend-" + backendName()} {
		// Between calls: the next call is served by the restarted plugin.
		killAndWait(t, pluginPID(t, s.cmd.Process.Pid, name))
		if r, err := s.C.ExecuteInPool(context.Background(), "python_executor", map[string]any{"code": "print('after')"}, 30); err != nil || r.Output != "after\n" {
			t.Errorf("first call after kill -9 of %s: %+v %v %s", name, r, err, errIf(r))
		}
		// During calls: calls in flight at the instant of the kill may end
		// with an explicit error; none hangs or is forged, and calls go on.
		tl := during(t, s, 4, func() {
			time.Sleep(500 * time.Millisecond)
			killAndWait(t, pluginPID(t, s.cmd.Process.Pid, name))
		})
		tl.check(t, "kill -9 of "+name+" during calls", true)
	}
	// Every killed plugin is restarted by now (the call needs the tool, the
	// create of a config never seen, so no spare, the backend: a pool call
	// on a runner channel does not), and none left its socket behind: one
	// socket per running plugin.
	if r, err := s.C.ExecuteInPool(context.Background(), "python_executor", map[string]any{"code": "print('last')"}, 30); err != nil || r.Output != "last\n" {
		t.Fatalf("last call: %+v %v %s", r, err, errIf(r))
	}
	s.sandbox(t, map[string]any{"env_vars": map[string]string{"UNIQUE": randHex(4)}})
	if dir, sockets, plugins := pluginSockets(t, s.cmd.Process.Pid); sockets != plugins {
		t.Errorf("%s holds %d sockets for %d running plugins: killed plugins left theirs", dir, sockets, plugins)
	}
}

func TestChaosKillServer(t *testing.T) {
	s := startServer(t, "")
	ids := chaosPool(t, s, 2)
	plain := s.sandbox(t, nil)
	stop := make(chan struct{})
	tl, wait := runCallers(t, s, 3, stop)
	time.Sleep(500 * time.Millisecond)
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	close(stop)
	wait()
	if len(tl.problems) > 0 {
		t.Errorf("during the kill: %s", tl.problems[0])
	}
	s2 := startServer(t, "", "--instance", s.Instance)
	for _, id := range append(ids, plain) {
		if _, err := s2.C.GetSandbox(context.Background(), id); err != nil {
			t.Errorf("sandbox %s lost across kill -9: %v", id, err)
		}
	}
	tl2 := during(t, s2, 3, func() {})
	tl2.check(t, "pool after the server's kill -9", false)
}

// privatePodman runs a Podman API service of the test's own (same storage),
// so killing it disturbs no other test.
func privatePodman(t *testing.T) (url string, start func(), kill func()) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "podman.sock")
	url = "unix://" + sock
	var cmd *exec.Cmd
	start = func() {
		cmd = exec.Command("podman", "system", "service", "--time=0", url)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 200; i++ {
			if out, err := exec.Command("podman", "--url", url, "info", "--format", "{{.Host.Arch}}").Output(); err == nil && len(out) > 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("private podman service did not come up")
	}
	kill = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}
	start()
	t.Cleanup(func() { kill() })
	return url, start, kill
}

// onPrivatePodman starts a server on a Podman service of the test's own
// (privatePodman), for cases that kill and restart the runtime; skipped on
// Kubernetes.
func onPrivatePodman(t *testing.T) (s *server, start, kill func()) {
	t.Helper()
	if kubeMode() {
		t.Skip("the runtime here is Podman")
	}
	binDir, _ := requireEnv(t)
	url, start, kill := privatePodman(t)
	return startServerAs(t, serverSetup{binDir: binDir, podmanURL: url}, ""), start, kill
}

func TestChaosPodmanServiceKilled(t *testing.T) {
	binDir, _ := requireEnv(t)
	url, start, kill := privatePodman(t)
	s := startServerAs(t, serverSetup{binDir: binDir, podmanURL: url}, "")
	chaosPool(t, s, 2)
	id := s.sandbox(t, nil)
	// Pool callers keep calling through the outage: calls in flight or made
	// while Podman is down may fail, explicitly; none may hang or be forged.
	stop := make(chan struct{})
	tl, wait := runCallers(t, s, 2, stop)
	time.Sleep(500 * time.Millisecond)
	kill()
	// /health says so (its probe is cached for at most 2 s).
	deadline := time.Now().Add(15 * time.Second)
	for {
		h, err := s.C.Health(context.Background())
		if err == nil && !h.Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health still healthy with the Podman service down: %+v %v", h, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Calls answer (with an error) instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	r, err := s.C.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print(1)"})
	hung := ctx.Err() != nil
	cancel()
	if hung {
		t.Fatalf("a call with Podman down got no answer: %+v %v", r, err)
	}
	start()
	deadline = time.Now().Add(30 * time.Second)
	for {
		h, err := s.C.Health(context.Background())
		if err == nil && h.Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health not healthy after Podman came back: %+v %v", h, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The sandboxes lived on (conmon keeps them); calls work again.
	deadline = time.Now().Add(30 * time.Second)
	for {
		r, err := s.C.ExecuteTool(context.Background(), id, "python_executor", map[string]any{"code": "print('back')"})
		if err == nil && r.Output == "back\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox after Podman restart: %+v %v", r, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wait()
	tl.check(t, "pool callers through the Podman service's kill -9 and restart", true)
	after := during(t, s, 3, func() {})
	after.check(t, "pool after the Podman service's restart", false)
}

// TestChaosHostileCode: bombs and floods in pool members; each gets a clear
// verdict, the member stays usable, and other callers are unaffected.
func TestChaosHostileCode(t *testing.T) {
	// One CPU and 256 pids per member: on a 2-core host a member allowed
	// every core could starve the host itself (README, Limits).
	s := startServer(t, "", "--max-memory", "256m", "--pids-limit", "256")
	if res, err := s.C.InitializePool(context.Background(), 2, "docker", map[string]any{"tools_config": []string{"python_executor", "shell_executor"}, "cpu_limit": 1}); err != nil || len(res.SandboxIDs) != 2 {
		t.Fatalf("initialize pool: %+v %v", res, err)
	}
	cases := []struct {
		name, code string
		timeout    int
		verdicts   []string
	}{
		{"memory bomb", "x = []\nwhile True:\n    x.append(bytearray(16 << 20))", 30, []string{"oom_killed"}},
		{"fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", 3, []string{"timeout"}},
		{"disk bomb", "f = open('/tmp/fill', 'wb')\nwhile True:\n    f.write(b'x' * (1 << 20))", 60, []string{""}},
		{"output flood", "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)", 3, []string{"output_truncated", "timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := during(t, s, 1, func() {
				r, err := s.C.ExecuteInPool(context.Background(), "python_executor", map[string]any{"code": tc.code, "timeout": tc.timeout}, 60)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				ok := false
				for _, v := range tc.verdicts {
					ok = ok || r.Metadata.Verdict == v
				}
				if !ok || r.Status == "success" {
					t.Errorf("%s: status %s verdict %q error %.200s", tc.name, r.Status, r.Metadata.Verdict, errText(r))
				}
				if len(r.Output) > 2<<20 {
					t.Errorf("%s: %d bytes of output passed the cap", tc.name, len(r.Output))
				}
			})
			tl.check(t, tc.name+": other callers", false)
			// Clean up what the disk bomb left (files persist in pool members).
			for i := 0; i < 2; i++ {
				s.C.ExecuteInPool(context.Background(), "shell_executor", map[string]any{"command": "rm -f /tmp/fill"}, 30)
			}
		})
	}
}

// TestChaosForkServer: a call that kills or stops its runner's fork server
// gets its own exact result, and other pool callers see no error and no
// foreign output: the runner reaps what the fork server left and forks later
// calls itself. (A call forked by the runner leaves its parent alone: that
// is the runner, TestRunnerWedge's case.)
func TestChaosForkServer(t *testing.T) {
	s := startServer(t, "", "--runner-standbys", "1")
	chaosPool(t, s, 2)
	for _, sig := range []string{"SIGKILL", "SIGSTOP"} {
		hostile := findRunner + "import signal\nif os.getppid() != runner:\n    os.kill(os.getppid(), signal." + sig + ")\n    print('signalled')\nelse:\n    print('forked by the runner')"
		signalled := 0
		tl := during(t, s, 4, func() {
			for i := 0; i < 4; i++ {
				r, err := s.C.ExecuteInPool(context.Background(), "python_executor", map[string]any{"code": hostile, "timeout": 20}, 60)
				switch {
				case err == nil && r.Status == "success" && r.Output == "signalled\n":
					signalled++
				case err == nil && r.Status == "success" && r.Output == "forked by the runner\n":
				default:
					t.Errorf("%s of the fork server, call %d: %+v %v %s", sig, i, r, err, errIf(r))
				}
			}
		})
		tl.check(t, sig+" of fork servers during calls", false)
		if signalled == 0 {
			t.Errorf("%s: no call ran on a fork server", sig)
		}
	}
}

// TestChaosHijackInPool: a caller's leftover process cannot read or forge
// the next caller's call (processes are swept between callers, and the
// runner is out of reach anyway).
func TestChaosHijackInPool(t *testing.T) {
	s := startServer(t, "")
	chaosPool(t, s, 1)
	hijack := `import os, subprocess, sys
code = '''
import glob, time
end = time.time() + 10
while time.time() < end:
    for p in glob.glob("/proc/[0-9]*/fd/[01]"):
        try:
            with open(p, "wb", buffering=0) as f:
                f.write(b'{"id": 1, "code": 0, "out": "Rk9SR0VECg==", "err": ""}\n' * 50)
        except OSError:
            pass
    time.sleep(0.005)
'''
subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("planted")`
	if r, err := s.C.ExecuteInPool(context.Background(), "python_executor", map[string]any{"code": hijack}, 30); err != nil || r.Output != "planted\n" {
		t.Fatalf("plant: %+v %v", r, err)
	}
	tl := during(t, s, 2, func() { time.Sleep(3 * time.Second) })
	tl.check(t, "pool callers after a hijack attempt", false)
}

func errIf(r *client.ToolResult) string {
	if r == nil {
		return ""
	}
	return errText(r)
}
