package e2e

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChaosKillServerClaimedSpare: a create that claims a warm spare
// answers once the runner wrote the claim file; the container's rename
// follows. A kill -9 of the server in between leaves a spare-* container
// that is a user's sandbox: the next server adopts it (and renames it),
// while the unclaimed spare waiting beside it is removed.
func TestChaosKillServerClaimedSpare(t *testing.T) {
	if kubeMode() {
		t.Skip("Podman renames lazily; a claim on Kubernetes relabels the pod before it answers")
	}
	s := startServer(t, "")
	ctx := context.Background()
	run := randHex(4)
	cfg := map[string]any{"tools_config": []string{"python_executor"}, "env_vars": map[string]string{"RUN": run}}
	spareReady := func(not string) string {
		t.Helper()
		id := ""
		if !within(60*time.Second, func() bool {
			if m, _ := s.C.Metrics(ctx); strings.Contains(m, `enclave_pool_size{state="spare"} 1`) {
				id = s.spare(t)
			}
			return id != "" && id != not
		}) {
			t.Fatal("no spare ready")
		}
		return id
	}
	for range 2 { // earns a spare
		id, err := s.C.CreateSandbox(ctx, "docker", cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.exec(t, id, "python_executor", map[string]any{"code": "print(1)"})
	}
	claimedCID := spareReady("")
	id, err := s.C.CreateSandbox(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := s.C.GetSandbox(ctx, id); info.Metadata["container_id"] != claimedCID {
		t.Fatalf("the create got container %v, the spare was %s", info.Metadata["container_id"], claimedCID)
	}
	// The user's state, then the next spare (started by this first call).
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "open('/tmp/state', 'w').write('kept')\nprint('ok')"}); r.Output != "ok\n" {
		t.Fatalf("call on the claimed spare: %+v", r)
	}
	unclaimedCID := spareReady(claimedCID)
	out, err := exec.Command("podman", "--url", s.Podman, "exec", claimedCID, "cat", "/tmp/.enclave/claimed").CombinedOutput()
	if err != nil || string(out) != id {
		t.Fatalf("claim file holds %q (%v), want %s", out, err, id)
	}

	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	// What the kill leaves when it lands before the background rename.
	if out, err := exec.Command("podman", "--url", s.Podman, "rename", claimedCID, "spare-"+id).CombinedOutput(); err != nil {
		t.Fatalf("podman rename: %v: %s", err, out)
	}

	s2 := startServer(t, "", "--instance", s.Instance)
	if _, err := s2.C.GetSandbox(ctx, id); err != nil {
		t.Fatalf("claimed spare lost across kill -9: %v", err)
	}
	if name := s2.containerName(t, claimedCID); name != "sandbox-"+id {
		t.Errorf("adopted claimed spare is named %q, want sandbox-%s", name, id)
	}
	r := s2.exec(t, id, "python_executor", map[string]any{"code": "import os; print(open('/tmp/state').read(), os.environ['RUN'])"})
	if r.Output != "kept "+run+"\n" {
		t.Errorf("call on the adopted sandbox: %+v", r)
	}
	if name := s2.containerName(t, unclaimedCID); name != "" {
		t.Errorf("the unclaimed spare %s is still there after re-adoption", name)
	}
}
