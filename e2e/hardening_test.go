package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// findRunner is Python that sets runner to the resident runner's pid: the
// call's nearest ancestor exec'd into the container (parent pid 0); a call's
// parent is the runner's fork server, or the runner itself.
const findRunner = `import os
def ppid_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
runner = os.getppid()
while ppid_of(runner) != 0:
    runner = ppid_of(runner)
`

// TestRunnerHijack: a call's processes cannot open the file descriptors of
// the resident runner or of its fork server (neither is dumpable, and
// CAP_SYS_PTRACE is dropped), and a forger left running by one call does not
// change a later call's result.
func TestRunnerHijack(t *testing.T) {
	s := startServer(t, "", "--runner-standbys", "1")
	id := s.sandbox(t, nil)
	probe := findRunner + `for name, pid in (("parent", os.getppid()), ("runner", runner)):
    for fd, mode in ((0, "wb"), (1, "wb"), (0, "rb")):
        try:
            open("/proc/%d/fd/%d" % (pid, fd), mode)
            print(name, "opened", fd, mode)
        except OSError as e:
            print(name, "denied", fd, mode, e.errno)
`
	r := s.exec(t, id, "python_executor", map[string]any{"code": probe})
	want := ""
	for _, who := range []string{"parent", "runner"} {
		want += who + " denied 0 wb 13\n" + who + " denied 1 wb 13\n" + who + " denied 0 rb 13\n"
	}
	if r.Output != want {
		t.Fatalf("runner fds from a call: %q, want %q", r.Output, want)
	}
	// A forger that keeps trying for the next seconds, detached from its call.
	forger := findRunner + `import subprocess, sys
code = '''
import json, os, time
end = time.time() + 8
while time.time() < end:
    for pid in PIDS:
        for fd in (1, 0):
            try:
                with open("/proc/%d/fd/%d" % (pid, fd), "wb", buffering=0) as f:
                    for i in range(1, 200):
                        f.write((json.dumps({"id": i, "code": 0, "out": "Rk9SR0VECg==", "err": ""}) + "\\n").encode())
            except OSError:
                pass
    time.sleep(0.01)
'''
subprocess.Popen([sys.executable, "-c", code.replace("PIDS", repr((os.getppid(), runner)))], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("started")
`
	if r := s.exec(t, id, "python_executor", map[string]any{"code": forger}); r.Output != "started\n" {
		t.Fatalf("forger: %+v %s", r, errText(r))
	}
	for i := 0; i < 30; i++ {
		want := fmt.Sprintf("genuine %d\n", i)
		r := s.exec(t, id, "python_executor", map[string]any{"code": fmt.Sprintf("print('genuine %d')", i)})
		if r.Status != "success" || r.Output != want {
			t.Fatalf("call %d: %q (status %s), want %q", i, r.Output, r.Status, want)
		}
	}
}

// TestRunnerWedge: a call that stops its runner or the runner's fork server
// (SIGSTOP) gets a timed-out answer, and the sandbox keeps working: the host
// kills a wedged runner and starts a fresh one; a runner whose fork server
// stopped kills it and forks calls itself.
func TestRunnerWedge(t *testing.T) {
	s := startServer(t, "", "--runner-standbys", "1")
	for _, target := range []string{"runner", "os.getppid()"} {
		t.Run(target, func(t *testing.T) {
			id := s.sandbox(t, nil)
			stop := findRunner + "import signal, time\nos.kill(" + target + ", signal.SIGSTOP)\ntime.sleep(60)"
			r := s.exec(t, id, "python_executor", map[string]any{"code": stop, "timeout": 1})
			if r.Status != "timeout" || r.Metadata.Verdict != "timeout" {
				t.Errorf("stopping call: status %s verdict %q error %q, want a timeout", r.Status, r.Metadata.Verdict, errText(r))
			}
			for i := 0; i < 3; i++ {
				r := s.exec(t, id, "python_executor", map[string]any{"code": "print(6*7)", "timeout": 5})
				if r.Status != "success" || r.Output != "42\n" {
					t.Fatalf("call %d after the wedge: %+v (%s)", i, r, errText(r))
				}
			}
		})
	}
}

// TestPoolCallerIsolation: nothing one pool caller starts survives into the
// next caller's call on the same member, while the sandbox's own command
// does; files persist (as in ms-enclave) unless --pool-reset. Both with the
// member's runner started over a session and booted with its container
// (an image that ran a runner here before), where the runner starts before
// the command and is a child of the sandbox's init.
func TestPoolCallerIsolation(t *testing.T) {
	for _, booted := range []bool{false, true} {
		t.Run(fmt.Sprintf("booted=%v", booted), func(t *testing.T) {
			if booted && kubeMode() {
				t.Skip("runners boot on Podman only")
			}
			s := startServer(t, "")
			ctx := context.Background()
			if booted {
				id := s.sandbox(t, map[string]any{"tools_config": []string{"python_executor"}, "env_vars": map[string]string{"FIRST": "1"}})
				if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(1)"}); r.Output != "1\n" {
					t.Fatalf("first sandbox of the image: %+v", r)
				}
			}
			pool, err := s.C.InitializePool(ctx, 1, "docker", poolTools)
			if err != nil {
				t.Fatal(err)
			}
			leave := `import subprocess
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.Popen(["sleep", "300"], start_new_session=True, **quiet)
subprocess.Popen(["sh", "-c", "sleep 301 & sleep 302"], **quiet)
open("/tmp/from-caller-1", "w").write("kept")
print("left")`
			if r, err := s.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": leave}, 30); err != nil || r.Output != "left\n" {
				t.Fatalf("caller 1: %+v %v", r, err)
			}
			look := `import os
n = {"sleep": 0, "bash": 0}
for p in os.listdir("/proc"):
    try:
        c = open("/proc/%s/comm" % p).read().strip() if p.isdigit() else ""
    except OSError:
        continue
    if c in n:
        n[c] += 1
print(n["sleep"], n["bash"], open("/tmp/from-caller-1").read())`
			r, err := s.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": look}, 30)
			if err != nil || r.Output != "0 1 kept\n" {
				t.Fatalf("caller 2 sees %q (%v), want no sleep left, the sandbox's command (bash) running and the file kept", r.Output, err)
			}
			if kubeMode() {
				return
			}
			if sessions := execSessions(t, s, "sandbox-"+pool.SandboxIDs[0]); (sessions == 0) != booted {
				t.Errorf("the member's container holds %d exec sessions; booted: %v", sessions, booted)
			}
		})
	}
}

// TestPoolReset: with --pool-reset every pool caller gets a fresh
// container: neither the files nor the processes of the caller before
// survive, and the fresh container boots its runner (the first container
// taught the server that the image runs one), which the call sees from
// inside: its runner is a child of the sandbox's init (PPid 1), where one
// an exec session started has no parent in the sandbox (PPid 0).
func TestPoolReset(t *testing.T) {
	if kubeMode() {
		t.Skip("runners boot on Podman only")
	}
	s := startServer(t, "", "--pool-reset")
	ctx := context.Background()
	if _, err := s.C.InitializePool(ctx, 1, "docker", poolTools); err != nil {
		t.Fatal(err)
	}
	// The parent of the runner: the first of the call's ancestors whose
	// parent is outside the sandbox (0) or its init (1).
	const runnerParent = `def ppid(p):
    with open("/proc/%d/stat" % p) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
p = os.getpid()
while ppid(p) > 1:
    p = ppid(p)
`
	leave := "import os, subprocess\n" + runnerParent + `subprocess.Popen(["sleep", "300"], start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open("/tmp/from-caller-1", "w").write("left")
print(ppid(p))`
	if r, err := s.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": leave}, 30); err != nil || r.Output != "0\n" {
		t.Fatalf("caller 1: %q %v (want its runner started by an exec session: 0)", r.Output, err)
	}
	look := "import os\n" + runnerParent + `def comm(p):
    try:
        return open("/proc/%s/comm" % p).read().strip()
    except OSError:
        return ""
sleeping = sum(1 for q in os.listdir("/proc") if q.isdigit() and comm(q) == "sleep")
print(sleeping, os.path.exists("/tmp/from-caller-1"), ppid(p))`
	r, err := s.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": look}, 30)
	if err != nil || r.Output != "0 False 1\n" {
		t.Fatalf("caller 2 sees %q (%v), want no sleep and no file of caller 1's, and its runner booted by the sandbox's init (1)", r.Output, err)
	}
}

// TestStdinCannotHurtOtherCalls: stdin that a process never reads neither
// kills the runner (SIGPIPE) nor freezes it, and a concurrent call is
// unaffected.
func TestStdinCannotHurtOtherCalls(t *testing.T) {
	s := startServer(t, "")
	id := s.sandbox(t, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, err := s.C.ExecuteTool(context.Background(), id, "python_executor", map[string]any{"code": "import time; time.sleep(1); print('other')"})
		if err != nil || r.Output != "other\n" {
			t.Errorf("concurrent call: %+v %v", r, err)
		}
	}()
	big := strings.Repeat("x", 200<<10)
	r := s.exec(t, id, "file_operation", map[string]any{"operation": "write", "file_path": "/dev/null/x", "content": big})
	if r.Status != "error" {
		t.Errorf("write under /dev/null: %+v", r)
	}
	r = s.exec(t, id, "shell_executor", map[string]any{"command": "sleep 30", "stdin": big, "timeout": 1})
	if r.Metadata.Verdict != "timeout" {
		t.Errorf("unread stdin with a deadline: verdict %q (%s)", r.Metadata.Verdict, errText(r))
	}
	wg.Wait()
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(1)"}); r.Output != "1\n" {
		t.Errorf("after: %+v", r)
	}
}
