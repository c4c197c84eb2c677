package e2e

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
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
	claimedCID := earnSpare(t, s, cfg)
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
	unclaimedCID := spareReady(t, s, claimedCID)
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

// earnSpare creates a sandbox of cfg twice (each used once, as clients do)
// and returns the container of the spare that earned.
func earnSpare(t *testing.T, s *server, cfg map[string]any) string {
	t.Helper()
	for range 2 {
		id, err := s.C.CreateSandbox(context.Background(), "docker", cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.exec(t, id, "python_executor", map[string]any{"code": "print(1)"})
	}
	return spareReady(t, s, "")
}

// spareReady waits for a waiting spare other than container not and
// returns its container.
func spareReady(t *testing.T, s *server, not string) string {
	t.Helper()
	id := ""
	if !within(60*time.Second, func() bool {
		if m, _ := s.C.Metrics(context.Background()); strings.Contains(m, `enclave_pool_size{state="spare"} 1`) {
			id = s.spare(t)
		}
		return id != "" && id != not
	}) {
		t.Fatal("no spare ready")
	}
	return id
}

// TestChaosKillBackendAfterClaim: kill -9 of the backend plugin right
// after a create claimed a spare (its rename under way or not yet made,
// its runner's session riding on the plugin): the sandbox answers once
// the plugin is back, keeps what it had, and ends up renamed.
func TestChaosKillBackendAfterClaim(t *testing.T) {
	if kubeMode() {
		t.Skip("Podman renames lazily; a claim on Kubernetes relabels the pod before it answers")
	}
	s := startServer(t, "")
	ctx := context.Background()
	cfg := map[string]any{"tools_config": []string{"python_executor"}, "env_vars": map[string]string{"RUN": randHex(4)}}
	cid := earnSpare(t, s, cfg)
	id, err := s.C.CreateSandbox(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
	killAndWait(t, pluginPID(t, s.cmd.Process.Pid, "enclave-backend-"+backendName()))
	var r *client.ToolResult
	if !within(60*time.Second, func() bool {
		r, err = s.C.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print('after')"})
		return err == nil && r.Output == "after\n"
	}) {
		t.Fatalf("the claimed sandbox does not answer after the backend's kill -9: %+v %v", r, err)
	}
	if info, err := s.C.GetSandbox(ctx, id); err != nil || info.Metadata["container_id"] != cid || info.Status != "running" {
		t.Errorf("claimed sandbox after the kill: %+v %v (container %s)", info, err, cid)
	}
	if !within(30*time.Second, func() bool { return s.containerName(t, cid) == "sandbox-"+id }) {
		t.Errorf("the claimed spare is named %q, want sandbox-%s", s.containerName(t, cid), id)
	}
}

// TestChaosClaimedSpareRemoved: the container of a just-claimed spare
// removed underneath (its background rename under way or not yet made):
// calls to the sandbox fail at once and explicitly, the sandbox is marked
// dead, and nothing of it is left.
func TestChaosClaimedSpareRemoved(t *testing.T) {
	if kubeMode() {
		t.Skip("Podman renames lazily; a claim on Kubernetes relabels the pod before it answers")
	}
	s := startServer(t, "")
	ctx := context.Background()
	cfg := map[string]any{"tools_config": []string{"python_executor"}, "env_vars": map[string]string{"RUN": randHex(4)}}
	cid := earnSpare(t, s, cfg)
	id, err := s.C.CreateSandbox(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
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
// a create claimed a spare and kept down for longer than a few retries:
// once it is back, the sandbox answers and its rename lands.
func TestChaosPodmanRestartAfterClaim(t *testing.T) {
	if kubeMode() {
		t.Skip("Podman only")
	}
	binDir, _ := requireEnv(t)
	url, start, kill := privatePodman(t)
	s := startServerAs(t, serverSetup{binDir: binDir, podmanURL: url}, "")
	ctx := context.Background()
	cfg := map[string]any{"tools_config": []string{"python_executor"}, "env_vars": map[string]string{"RUN": randHex(4)}}
	cid := earnSpare(t, s, cfg)
	id, err := s.C.CreateSandbox(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
	kill()
	time.Sleep(4 * time.Second) // the outage: longer than the first retries
	start()
	var r *client.ToolResult
	if !within(60*time.Second, func() bool {
		r, err = s.C.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print('back')"})
		return err == nil && r.Output == "back\n"
	}) {
		t.Fatalf("the claimed sandbox after Podman's restart: %+v %v", r, err)
	}
	if !within(30*time.Second, func() bool { return s.containerName(t, cid) == "sandbox-"+id }) {
		t.Errorf("the claimed spare is named %q, want sandbox-%s", s.containerName(t, cid), id)
	}
}
