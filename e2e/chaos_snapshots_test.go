package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

// Chaos for snapshots, forks and pause: their state lives in Podman (image
// labels, the container's paused state), so nothing is lost.

// TestChaosSnapshotsKillServer: after kill -9 of the server, a restarted
// one lists the snapshot, serves the fork's child, and keeps the paused
// sandbox paused with its process's memory.
func TestChaosSnapshotsKillServer(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	src := s.sandbox(t, nil)
	s.shell(t, src, "echo kept > /sandbox/k")
	name := "chaos-" + randHex(4)
	if _, err := s.C.Snapshot(ctx, src, client.SnapshotOptions{Name: name}); err != nil {
		t.Fatal(err)
	}
	kids, err := s.C.Fork(ctx, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.C.StartProcess(ctx, src, counter)
	if err != nil {
		t.Fatal(err)
	}
	if !within(30*time.Second, func() bool { c, _ := ticks(t, s, src, p.ProcessID); return len(c) >= 3 }) {
		t.Fatal("the counter does not count")
	}
	if err := s.C.Pause(ctx, src); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()

	s2 := startServer(t, "", "--instance", s.Instance)
	noImagesLeft(t, s2)
	if snap, err := s2.C.GetSnapshot(ctx, name); err != nil || snap.SandboxID != src {
		t.Errorf("snapshot after kill -9: %+v %v", snap, err)
	}
	if got := s2.shell(t, kids[0], "cat /sandbox/k"); got != "kept" {
		t.Errorf("fork child after kill -9 sees %q", got)
	}
	if info, err := s2.C.GetSandbox(ctx, src); err != nil || info.Metadata["paused_at"] == nil {
		t.Fatalf("paused sandbox after kill -9: %+v %v", info, err)
	}
	if _, err := s2.C.ExecuteTool(ctx, src, "shell_executor", map[string]any{"command": "true"}); client.StatusOf(err) != 409 {
		t.Errorf("call to the paused sandbox after kill -9: %v", err)
	}
	if err := s2.C.Resume(ctx, src); err != nil {
		t.Fatal(err)
	}
	var counts []int
	if !within(30*time.Second, func() bool {
		var times []float64
		counts, times = ticks(t, s2, src, p.ProcessID)
		return len(times) > 0 && times[len(times)-1] > float64(time.Now().Add(-time.Second).UnixNano())/1e9
	}) {
		t.Fatal("the counter did not go on after resume on the restarted server")
	}
	for i := 1; i < len(counts); i++ {
		if counts[i] != counts[i-1]+1 {
			t.Fatalf("count went %d → %d across kill -9 and resume", counts[i-1], counts[i])
		}
	}
	// A sandbox from the snapshot on the new server.
	id, err := s2.C.CreateSandbox(ctx, "docker", map[string]any{"snapshot": name, "tools_config": allTools})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.shell(t, id, "cat /sandbox/k"); got != "kept" {
		t.Errorf("sandbox from the snapshot after kill -9 sees %q", got)
	}
}

// TestChaosForkKillBackendPlugin: kill -9 of the backend plugin while a
// fork runs ends the fork with an answer (all children or an error, never
// some), leaks no container (the harness checks) and the next fork works.
func TestChaosForkKillBackendPlugin(t *testing.T) {
	s := startServer(t, "", "--health-interval", "0.5")
	noImagesLeft(t, s)
	ctx := context.Background()
	src := s.sandbox(t, nil)
	s.shell(t, src, "echo x > /sandbox/x")
	type answer struct {
		ids []string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		ids, err := s.C.Fork(ctx, src, 4)
		done <- answer{ids, err}
	}()
	// Kill it while the fork is under way: once the commit's image exists.
	if !within(30*time.Second, func() bool { return len(s.images(t)) > 0 }) {
		t.Fatal("the fork made no image")
	}
	killAndWait(t, pluginPID(t, s.cmd.Process.Pid, "enclave-backend-"+backendName()))
	var a answer
	select {
	case a = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the fork did not answer within 3 minutes of the plugin's kill -9")
	}
	list, err := s.C.ListSandboxes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case a.err == nil && len(a.ids) == 4 && len(list) == 5:
		t.Logf("the fork completed despite the kill: %v", a.ids)
		for _, id := range a.ids {
			if got := s.shell(t, id, "cat /sandbox/x"); got != "x" {
				t.Errorf("child %s sees %q", id, got)
			}
		}
	case a.err != nil && len(list) == 1:
		t.Logf("the fork failed whole: %v", a.err)
		// A create the killed plugin had sent may still finish in the
		// Podman service after the server removed its name: the health
		// check's stray sweep removes such containers.
		if !within(30*time.Second, func() bool { return len(s.sandboxContainers(t)) == 1 }) {
			t.Errorf("containers of the failed fork left: %v", s.sandboxContainers(t))
		}
	default:
		t.Fatalf("fork answered %v %v with %d sandboxes listed: neither all nor none", a.ids, a.err, len(list))
	}
	ids, err := s.C.Fork(ctx, src, 2)
	if err != nil || len(ids) != 2 {
		t.Fatalf("fork after the plugin restarted: %v %v", ids, err)
	}
}

// TestChaosPausedContainerRemoved: a paused sandbox whose container is
// removed underneath goes to error; resume says so, delete works.
func TestChaosPausedContainerRemoved(t *testing.T) {
	s := startServer(t, "", "--health-interval", "0.5")
	ctx := context.Background()
	id := s.sandbox(t, nil)
	if err := s.C.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	info, err := s.C.GetSandbox(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	podmanRm(t, s.Podman, info.Metadata["container_id"].(string))
	if !within(30*time.Second, func() bool {
		info, err := s.C.GetSandbox(ctx, id)
		return err == nil && info.Status == "error"
	}) {
		t.Fatal("a paused sandbox whose container was removed is not marked error")
	}
	if err := s.C.Resume(ctx, id); err == nil || client.StatusOf(err) >= 500 && !strings.Contains(err.Error(), "gone") {
		t.Errorf("resume of a removed container: %v", err)
	}
	if err := s.C.DeleteSandbox(ctx, id); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestChaosPausePodmanRestart: the Podman service killed and started again
// loses neither the paused state nor the frozen process.
func TestChaosPausePodmanRestart(t *testing.T) {
	s, start, kill := onPrivatePodman(t)
	ctx := context.Background()
	id := s.sandbox(t, nil)
	p, err := s.C.StartProcess(ctx, id, counter)
	if err != nil {
		t.Fatal(err)
	}
	if !within(30*time.Second, func() bool { c, _ := ticks(t, s, id, p.ProcessID); return len(c) >= 3 }) {
		t.Fatal("the counter does not count")
	}
	if err := s.C.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	kill()
	// With the runtime down a resume answers, with an error, in bounded time.
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = s.C.Resume(cctx, id)
	hung := cctx.Err() != nil
	cancel()
	if hung {
		t.Fatalf("resume with Podman down hung: %v", err)
	}
	start()
	if !within(60*time.Second, func() bool { return s.C.Resume(ctx, id) == nil }) {
		t.Fatal("resume failed after Podman came back")
	}
	if !within(30*time.Second, func() bool {
		_, times := ticks(t, s, id, p.ProcessID)
		return len(times) > 0 && times[len(times)-1] > float64(time.Now().Add(-time.Second).UnixNano())/1e9
	}) {
		t.Fatal("the counter did not go on after Podman's restart and resume")
	}
}
