package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A sandbox's resident runner speaks to the server over a socket in a
// directory the server mounts read-only into the sandbox, instead of
// through Podman's exec stream (README, Performance; docs/architecture.md).

// channelServer starts a server whose backend mounts this host's paths.
func channelServer(t *testing.T) *server {
	t.Helper()
	if kubeMode() {
		t.Skip("the runner channel needs a backend that mounts this host's paths (Podman)")
	}
	return startServer(t, "")
}

// channelDir is where a sandbox's channel lives on this host (the server
// runs with --runner-channel-dir auto: as root under /run/enclave, else
// under its user's runtime directory).
func (s *server) channelDir(id string) string {
	base := "/run/enclave/channels"
	if s.uid != 0 {
		base = fmt.Sprintf("/run/user/%d/enclave/channels", s.uid)
	}
	return filepath.Join(base, s.Instance, "_", id)
}

// channelConns counts the connected sockets on a sandbox's channel: the
// server's end of a connection is made in the connecting runner's network
// namespace, and /proc/net/unix there names it by its listener's path.
func channelConns(t *testing.T, s *server, id string) int {
	t.Helper()
	b, err := exec.Command("podman", "--url", s.Podman, "exec", "sandbox-"+id, "cat", "/proc/net/unix").CombinedOutput()
	if err != nil {
		t.Fatalf("read the sandbox's /proc/net/unix: %v: %s", err, b)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// Num RefCount Protocol Flags Type St Inode Path; St 03: connected.
		if len(f) == 8 && f[5] == "03" && f[7] == filepath.Join(s.channelDir(id), "runner.sock") {
			n++
		}
	}
	return n
}

// runnersIn counts the resident runners in a container: processes running
// runner.py whose parent does not (its fork server, standbys and calls are
// its children).
func runnersIn(t *testing.T, s *server, cid string) []int {
	t.Helper()
	const count = `import os
def runner(p):
    try:
        return b"enclave resident runner" in open("/proc/%s/cmdline" % p, "rb").read()
    except OSError:
        return False
def parent(p):
    return open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[1]
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != os.getpid() and runner(p) and not runner(parent(p)):
        print(p)
`
	out, err := exec.Command("podman", "--url", s.Podman, "exec", cid, "python3", "-c", count).CombinedOutput()
	if err != nil {
		t.Fatalf("list runners in %s: %v: %s", cid, err, out)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitRunners waits (bounded) until a container runs want runners.
func waitRunners(t *testing.T, s *server, cid string, want int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pids := runnersIn(t, s, cid)
		if len(pids) == want {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s runs runners %v, want %d", cid, pids, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRunnerChannel: calls ride the channel; the sandbox can neither list
// nor write its channel's directory, and finds no socket there (it exists
// only while a runner starts); a
// runner killed in the sandbox is replaced by one on a new channel; the
// directory goes with the sandbox.
func TestRunnerChannel(t *testing.T) {
	s := channelServer(t)
	id := s.sandbox(t, nil)
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(40+2)"}); r.Output != "42\n" {
		t.Fatalf("call: %+v", r)
	}
	dir := s.channelDir(id)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("channel directory %s: %v %v", dir, fi, err)
	}
	if n := channelConns(t, s, id); n != 1 {
		t.Errorf("%d connections on %s, want 1", n, dir)
	}
	look := `import os, socket
try:
    print(os.listdir("/.enclave-channel"))
except OSError as e:
    print(e.strerror)
try:
    open("/.enclave-channel/x", "w")
    print("wrote")
except OSError as e:
    print(e.strerror)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("/.enclave-channel/runner.sock")
    print("connected")
except OSError as e:
    print(e.strerror)
`
	if r := s.exec(t, id, "python_executor", map[string]any{"code": look}); r.Output != "Permission denied\nRead-only file system\nNo such file or directory\n" {
		t.Errorf("the sandbox's view of its channel: %+v", r)
	}

	replaceRunner(t, s, id)

	if err := s.C.DeleteSandbox(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("channel directory left after the delete: %v", err)
	}
}

// replaceRunner kills a sandbox's runner in the sandbox and waits (bounded)
// until calls come back on a new runner on the channel: the first call may
// find the runner dead and run one-shot while the next one starts.
func replaceRunner(t *testing.T, s *server, id string) {
	t.Helper()
	cid := "sandbox-" + id
	old := waitRunners(t, s, cid, 1)
	if out, err := exec.Command("podman", "--url", s.Podman, "exec", cid, "kill", "-9", strconv.Itoa(old[0])).CombinedOutput(); err != nil {
		t.Fatalf("kill the runner: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for channelConns(t, s, id) != 1 {
		if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(6*7)"}); r.Output != "42\n" {
			t.Fatalf("call after the runner's kill: %+v", r)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no runner back on the channel (%d connections)", channelConns(t, s, id))
		}
	}
	if now := waitRunners(t, s, cid, 1); now[0] == old[0] {
		t.Errorf("runner %d still there after its kill", old[0])
	}
}

// execSessions counts a container's exec sessions (a runner started over
// one keeps it; a booted runner has none).
func execSessions(t *testing.T, s *server, cid string) int {
	t.Helper()
	out, err := exec.Command("podman", "--url", s.Podman, "inspect", "--format", "{{len .ExecIDs}}", cid).CombinedOutput()
	if err != nil {
		t.Fatalf("inspect %s: %v: %s", cid, err, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("inspect %s: %q", cid, out)
	}
	return n
}

// booted makes a sandbox that boots its runner with its container: the
// second of its image on this server (the first teaches the server that
// the image runs a runner).
func booted(t *testing.T, s *server) (id, cid string) {
	t.Helper()
	first := s.sandbox(t, map[string]any{"env_vars": map[string]string{"FIRST": "1"}})
	if r := s.exec(t, first, "python_executor", map[string]any{"code": "print(1)"}); r.Output != "1\n" {
		t.Fatalf("first sandbox of the image: %+v", r)
	}
	id = s.sandbox(t, nil)
	cid = "sandbox-" + id
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(40+2)"}); r.Output != "42\n" {
		t.Fatalf("call: %+v", r)
	}
	if n := execSessions(t, s, cid); n != 0 {
		t.Fatalf("%d exec sessions in a sandbox whose runner should have booted", n)
	}
	return id, cid
}

// TestRunnerBoot: a sandbox of an image that ran a runner on this server
// starts its runner with its container (no exec session), on its channel;
// the key and the description the runner booted from are gone once it
// connected; the sandbox's command still runs under Podman's init; a
// booted runner killed in the sandbox is replaced over a session.
func TestRunnerBoot(t *testing.T) {
	s := channelServer(t)
	id, cid := booted(t, s)
	if n := channelConns(t, s, id); n != 1 {
		t.Errorf("%d connections on the channel, want 1", n)
	}
	if entries, err := os.ReadDir(s.channelDir(id)); err != nil || len(entries) != 0 {
		t.Errorf("the channel directory holds %v (%v), want nothing once the runner connected", entries, err)
	}
	look := `import os
print(open("/proc/1/cmdline").read().split("\0")[0], os.path.exists("/.enclave-channel/runner.key"))`
	if r := s.exec(t, id, "python_executor", map[string]any{"code": look}); r.Output != "catatonit False\n" {
		t.Errorf("the sandbox's init and key: %+v", r)
	}
	replaceRunner(t, s, id)
	if n := execSessions(t, s, cid); n == 0 {
		t.Error("the booted runner's successor was not started over a session")
	}
}
