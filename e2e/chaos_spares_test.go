package e2e

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

// A create that claims a warm spare on Podman answers once the runner wrote
// the claim file; the container's rename follows in the background
// (docs/api.md §3.4). These cases break things in between.

// TestChaosKillServerClaimedSpare: a kill -9 of the server before the
// rename leaves a spare-* container that is a user's sandbox: the next
// server adopts it (and renames it), while the unclaimed spare waiting
// beside it is removed.
func TestChaosKillServerClaimedSpare(t *testing.T) {
	s := podmanOnly(t, startServer)
	run := randHex(4)
	id, cid := claimedSpare(t, s, run)
	// The user's state, then the next spare (started by this first call).
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "open('/tmp/state', 'w').write('kept')\nprint('ok')"}); r.Output != "ok\n" {
		t.Fatalf("call on the claimed spare: %+v", r)
	}
	unclaimedCID := spareReady(t, s, cid)
	out, err := exec.Command("podman", "--url", s.Podman, "exec", cid, "cat", "/tmp/.enclave/claimed").CombinedOutput()
	if err != nil || string(out) != id {
		t.Fatalf("claim file holds %q (%v), want %s", out, err, id)
	}

	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	// What the kill leaves when it lands before the background rename.
	if out, err := exec.Command("podman", "--url", s.Podman, "rename", cid, "spare-"+id).CombinedOutput(); err != nil {
		t.Fatalf("podman rename: %v: %s", err, out)
	}

	s2 := startServer(t, "", "--instance", s.Instance)
	if _, err := s2.C.GetSandbox(context.Background(), id); err != nil {
		t.Fatalf("claimed spare lost across kill -9: %v", err)
	}
	if name := s2.containerName(t, cid); name != "sandbox-"+id {
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

// TestChaosKillBackendAfterClaim: kill -9 of the backend plugin right
// after the claim (its runner's session rides on the plugin): the sandbox
// answers once the plugin is back, in the same container, and ends up
// renamed.
func TestChaosKillBackendAfterClaim(t *testing.T) {
	s := podmanOnly(t, startServer)
	id, cid := claimedSpare(t, s, randHex(4))
	killAndWait(t, pluginPID(t, s.cmd.Process.Pid, "enclave-backend-"+backendName()))
	answers(t, s, id, "after the backend plugin's kill -9")
	if info, err := s.C.GetSandbox(context.Background(), id); err != nil || info.Metadata["container_id"] != cid || info.Status != "running" {
		t.Errorf("claimed sandbox after the kill: %+v %v (container %s)", info, err, cid)
	}
	renamed(t, s, id, cid)
}

// TestChaosClaimedSpareRemoved: the container removed underneath right
// after the claim: a call fails at once and explicitly, the sandbox is
// marked dead, and nothing of it is left.
func TestChaosClaimedSpareRemoved(t *testing.T) {
	s := podmanOnly(t, startServer)
	ctx := context.Background()
	id, cid := claimedSpare(t, s, randHex(4))
	podmanRm(t, s.Podman, cid)
	r, err := s.C.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print('gone?')"})
	if err == nil && r.Status == "success" {
		t.Errorf("a call to a removed container succeeded: %+v", r)
	}
	if !within(30*time.Second, func() bool {
		info, err := s.C.GetSandbox(ctx, id)
		return err == nil && info.Status == "error"
	}) {
		info, err := s.C.GetSandbox(ctx, id)
		t.Errorf("sandbox of a removed container: %+v %v, want status error", info, err)
	}
	if name := s.containerName(t, cid); name != "" {
		t.Errorf("the removed container is back as %s", name)
	}
}

// TestChaosPodmanRestartAfterClaim: the Podman service killed right after
// the claim and kept down for longer than the first rename retries: once
// it is back, the sandbox answers and its rename lands.
func TestChaosPodmanRestartAfterClaim(t *testing.T) {
	var start, kill func()
	s := podmanOnly(t, func(t *testing.T, _ string, _ ...string) *server {
		binDir, _ := requireEnv(t)
		var url string
		url, start, kill = privatePodman(t)
		return startServerAs(t, serverSetup{binDir: binDir, podmanURL: url}, "")
	})
	id, cid := claimedSpare(t, s, randHex(4))
	kill()
	time.Sleep(4 * time.Second) // the outage: longer than the first retries
	start()
	answers(t, s, id, "after Podman's restart")
	renamed(t, s, id, cid)
}

// podmanOnly skips on the cluster (a claim there relabels the pod before it
// answers) and starts a server.
func podmanOnly(t *testing.T, start func(*testing.T, string, ...string) *server) *server {
	t.Helper()
	if kubeMode() {
		t.Skip("Podman renames lazily; a claim on Kubernetes relabels the pod before it answers")
	}
	return start(t, "")
}

// claimedSpare makes a config (told apart by run) earn a spare, claims it
// with a create and returns the sandbox and its container.
func claimedSpare(t *testing.T, s *server, run string) (id, cid string) {
	t.Helper()
	ctx := context.Background()
	cfg := map[string]any{"tools_config": []string{"python_executor"}, "env_vars": map[string]string{"RUN": run}}
	for range 2 { // each used once, as clients do
		id, err := s.C.CreateSandbox(ctx, "docker", cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.exec(t, id, "python_executor", map[string]any{"code": "print(1)"})
	}
	cid = spareReady(t, s, "")
	id, err := s.C.CreateSandbox(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := s.C.GetSandbox(ctx, id); info.Metadata["container_id"] != cid {
		t.Fatalf("the create got container %v, the spare was %s", info.Metadata["container_id"], cid)
	}
	return id, cid
}

// answers waits (bounded) until sandbox id answers a call.
func answers(t *testing.T, s *server, id, when string) {
	t.Helper()
	var r *client.ToolResult
	var err error
	if !within(60*time.Second, func() bool {
		r, err = s.C.ExecuteTool(context.Background(), id, "python_executor", map[string]any{"code": "print('back')"})
		return err == nil && r.Output == "back\n"
	}) {
		t.Fatalf("the claimed sandbox does not answer %s: %+v %v", when, r, err)
	}
}
