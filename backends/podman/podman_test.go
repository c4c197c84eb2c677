//go:build remote

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/sdktest"
)

// testBackend connects to the Podman socket of ENCLAVE_PODMAN_URL (or the
// default one). It skips when none answers, unless ENCLAVE_REQUIRE_PODMAN=1.
func testBackend(t *testing.T) *Podman {
	t.Helper()
	url := os.Getenv("ENCLAVE_PODMAN_URL")
	ok := false
	for _, c := range socketCandidates(url) {
		if dialable(c) {
			ok = true
		}
	}
	if !ok {
		if os.Getenv("ENCLAVE_REQUIRE_PODMAN") == "1" {
			t.Fatalf("no Podman socket answers (ENCLAVE_PODMAN_URL=%q) and ENCLAVE_REQUIRE_PODMAN=1", url)
		}
		t.Skip("no Podman socket answers; set ENCLAVE_PODMAN_URL (make test does)")
	}
	return New(Config{URL: url})
}

func testImage() string {
	if v := os.Getenv("ENCLAVE_TEST_IMAGE"); v != "" {
		return v
	}
	return "localhost/enclave-python:3.11"
}

func newSandbox(t *testing.T, p *Podman, mutate func(*sdk.Spec)) sdk.State {
	t.Helper()
	ctx := context.Background()
	s := sdk.Spec{Name: fmt.Sprintf("enclave-test-%d", time.Now().UnixNano()), Image: testImage(), WorkingDir: "/sandbox",
		MemoryBytes: 256 << 20, CPUs: 1, PidsLimit: 256, Labels: map[string]string{"enclave.test": "1"},
		Env: map[string]string{"GREETING": "hi"}}
	if mutate != nil {
		mutate(&s)
	}
	st, err := p.Create(ctx, s, 30*time.Second)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { p.Remove(context.Background(), st.ContainerID) })
	return st
}

func TestSecurityDefaults(t *testing.T) {
	p := testBackend(t)
	st := newSandbox(t, p, nil)
	r, err := p.Exec(context.Background(), st.ContainerID, sdk.ExecRequest{Argv: []string{"sh", "-c",
		"cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; grep -E '^(NoNewPrivs|CapEff)' /proc/self/status; ls /sys/class/net; cat /proc/1/comm"}})
	if err != nil {
		t.Fatal(err)
	}
	out := string(r.Stdout)
	for _, want := range []string{"268435456", "NoNewPrivs:\t1", "CapEff:\t00000000000004fb", "lo\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "podman-init") && !strings.Contains(out, "catatonit") {
		t.Errorf("PID 1 is not an init process:\n%s", out)
	}
	if strings.Contains(out, "eth0") {
		t.Errorf("sandbox without network has eth0:\n%s", out)
	}
}

func TestContract(t *testing.T) {
	p := testBackend(t)
	sdktest.RunBackend(t, p, sdk.Spec{Name: fmt.Sprintf("enclave-contract-%d", time.Now().UnixNano()), Image: testImage(),
		WorkingDir: "/sandbox", MemoryBytes: 256 << 20, CPUs: 1, PidsLimit: 256, Labels: map[string]string{"enclave.test": "contract"}})
}

func TestBehaviour(t *testing.T) {
	p := testBackend(t)
	sdktest.RunBackendBehaviour(t, p, sdk.Spec{Name: fmt.Sprintf("enclave-behaviour-%d", time.Now().UnixNano()), Image: testImage(),
		WorkingDir: "/sandbox", MemoryBytes: 256 << 20, CPUs: 1, PidsLimit: 256, Labels: map[string]string{"enclave.test": "behaviour"}})
}

// TestStartsOwnService: with no socket answering, the backend starts
// `podman system service` as its child on a private socket.
func TestStartsOwnService(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("ENCLAVE_REQUIRE_PODMAN") == "1" {
			t.Fatal("podman is not installed and ENCLAVE_REQUIRE_PODMAN=1")
		}
		t.Skip("podman is not installed")
	}
	for _, c := range socketCandidates("") {
		if dialable(c) {
			t.Skipf("a default Podman socket answers (%s); nothing to start", c)
		}
	}
	p := New(Config{})
	defer p.Shutdown()
	st := newSandbox(t, p, nil)
	r, err := p.Exec(context.Background(), st.ContainerID, sdk.ExecRequest{Argv: []string{"echo", "own service"}})
	if err != nil || string(r.Stdout) != "own service\n" {
		t.Fatalf("exec through our own service: %q, %v", r.Stdout, err)
	}
	if p.child == nil || !strings.HasPrefix(p.uri, "unix://") || strings.Contains(p.uri, "/run/podman/") {
		t.Errorf("uri %s, child %v: want a private socket served by our child", p.uri, p.child)
	}
	if err := p.Remove(context.Background(), st.ContainerID); err != nil {
		t.Errorf("remove: %v", err)
	}
}

// TestSandboxesTakeNoHostKeys: rootful sandboxes share one id mapping, so a
// session keyring per container would count against one host uid's
// kernel.keys.maxkeys (200 on Debian) and cap the host near 200 sandboxes.
// deploy/containers.conf turns the keyring off; this proves the service runs
// with it.
func TestSandboxesTakeNoHostKeys(t *testing.T) {
	testBackend(t)
	p := New(Config{URL: os.Getenv("ENCLAVE_PODMAN_URL"), UserNS: DefaultUserNS})
	first := newSandbox(t, p, nil)
	if p.host.idmap == nil {
		t.Skip("sandboxes run without the shared id mapping; their keys count against their own uids")
	}
	uid := p.host.idmap.host
	before, err := hostKeys(uid)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{first.ContainerID}
	for i := 0; i < 3; i++ {
		ids = append(ids, newSandbox(t, p, nil).ContainerID)
	}
	for _, id := range ids {
		if r, err := p.Exec(context.Background(), id, sdk.ExecRequest{Argv: []string{"true"}}); err != nil || r.ExitCode != 0 {
			t.Fatalf("exec in %s: %+v, %v", id, r, err)
		}
	}
	after, err := hostKeys(uid)
	if err != nil {
		t.Fatal(err)
	}
	if after > before {
		t.Errorf("host uid %d holds %d keys after 3 more sandboxes, %d before: each sandbox takes keys from the host's per-uid quota (is keyring = false in the service's containers.conf?)", uid, after, before)
	}
	// Without a keyring of its own a sandbox must still not reach the one it
	// would inherit: the default seccomp profile refuses keyctl.
	nr := map[string]int{"amd64": 250, "arm64": 219}[runtime.GOARCH]
	if nr == 0 {
		return
	}
	probe := fmt.Sprintf("import ctypes; l = ctypes.CDLL(None, use_errno=True); print(l.syscall(%d, 0, -3, 0), ctypes.get_errno())", nr)
	r, err := p.Exec(context.Background(), first.ContainerID, sdk.ExecRequest{Argv: []string{"python3", "-c", probe}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(r.Stdout)); got != "-1 1" {
		t.Errorf("keyctl(GET_KEYRING_ID, session) in a sandbox: %q (stderr %q), want -1 with EPERM", got, r.Stderr)
	}
}

// hostKeys is the number of keys /proc/key-users counts for uid (0 when the
// uid holds none).
func hostKeys(uid int) (int, error) {
	b, err := os.ReadFile("/proc/key-users")
	if err != nil {
		return 0, fmt.Errorf("read key users: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var u, usage, keys, inst int
		if n, _ := fmt.Sscanf(strings.TrimSpace(line), "%d: %d %d/%d", &u, &usage, &keys, &inst); n == 4 && u == uid {
			return keys, nil
		}
	}
	return 0, nil
}
