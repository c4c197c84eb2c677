package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/client"
)

// Snapshots, forks, pause and resume on real Podman (docs/api.md §14.2,
// §14.3).

func (s *server) shell(t *testing.T, id, cmd string) string {
	t.Helper()
	r := s.exec(t, id, "shell_executor", map[string]any{"command": cmd})
	if r.Status != "success" {
		t.Fatalf("%s in %s: %s %s", cmd, id, r.Status, errText(r))
	}
	return strings.TrimSpace(r.Output)
}

// images lists this instance's snapshot images, whatever their name.
func (s *server) images(t *testing.T) []string {
	out, err := exec.Command("podman", "--url", s.Podman, "images", "-a", "-q", "--filter", "label=enclave.instance="+s.Instance).CombinedOutput()
	if err != nil {
		t.Logf("podman images: %v: %s", err, out)
		return nil
	}
	return strings.Fields(string(out))
}

// noImagesLeft: once its snapshots and sandboxes are deleted and it has
// stopped (its spares go then), an instance leaves no image behind.
func noImagesLeft(t *testing.T, s *server) {
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := s.C.Snapshots(ctx, nil)
		for _, sn := range list {
			s.C.DeleteSnapshot(ctx, sn.Name)
		}
		for _, sb := range must(s.C.ListSandboxes(ctx, "")) {
			s.C.DeleteSandbox(ctx, sb.ID)
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("the server did not stop within 60 s of SIGTERM")
		}
		if left := s.images(t); len(left) > 0 {
			t.Errorf("images left behind by instance %s: %v", s.Instance, left)
		}
	})
}

func must[T any](v T, _ error) T { return v }

func TestForkChildren(t *testing.T) {
	s := startServer(t, "")
	noImagesLeft(t, s)
	ctx := context.Background()
	parent := s.sandbox(t, map[string]any{"env_vars": map[string]string{"A": "1"}})
	s.shell(t, parent, "echo parent > /sandbox/state.txt")
	if _, err := s.C.StartProcess(ctx, parent, ticker); err != nil {
		t.Fatal(err)
	}
	ids, err := s.C.Fork(ctx, parent, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Fatalf("fork gave %v", ids)
	}
	for _, id := range ids {
		t.Cleanup(func() { s.C.DeleteSandbox(ctx, id) })
	}
	for i, id := range ids {
		if got := s.shell(t, id, "cat /sandbox/state.txt; echo A=$A"); got != "parent\nA=1" {
			t.Errorf("child %d sees %q", i, got)
		}
		// Files came along, processes did not.
		if procs, err := s.C.Processes(ctx, id); err != nil || len(procs) != 0 {
			t.Errorf("child %d lists processes %v (%v)", i, procs, err)
		}
		s.shell(t, id, fmt.Sprintf("echo %d > /sandbox/child.txt", i))
	}
	s.shell(t, parent, "echo later > /sandbox/later.txt")
	for i, id := range ids {
		got := s.shell(t, id, "cat /sandbox/child.txt; ls /sandbox")
		if got != fmt.Sprintf("%d\nchild.txt\nstate.txt", i) {
			t.Errorf("child %d sees another's or the parent's later writes: %q", i, got)
		}
	}
	if got := s.shell(t, parent, "ls /sandbox"); got != "later.txt\nstate.txt" {
		t.Errorf("the parent sees a child's writes: %q", got)
	}
	if procs, _ := s.C.Processes(ctx, parent); len(procs) != 1 || !procs[0].Running {
		t.Errorf("the parent's process after the fork: %+v", procs)
	}
}

func TestSnapshotCreateAndPool(t *testing.T) {
	s := startServer(t, "")
	noImagesLeft(t, s)
	ctx := context.Background()
	src := s.sandbox(t, map[string]any{"env_vars": map[string]string{"A": "from-source"}})
	s.shell(t, src, "mkdir -p /sandbox/repo && head -c 1048576 /dev/urandom > /sandbox/repo/blob && echo ready > /sandbox/repo/marker")
	name := "e2e-" + randHex(4)
	snap, err := s.C.Snapshot(ctx, src, client.SnapshotOptions{Name: name, Labels: map[string]string{"task": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Name != name || snap.SandboxID != src || snap.Labels["task"] != "t1" || snap.SizeBytes < 1<<20 || snap.ExpiresAt != nil {
		t.Errorf("snapshot %+v", snap)
	}
	if list, err := s.C.Snapshots(ctx, map[string]string{"task": "t1"}); err != nil || len(list) != 1 || list[0].Name != name {
		t.Errorf("list by label: %+v %v", list, err)
	}
	if list, _ := s.C.Snapshots(ctx, map[string]string{"task": "other"}); len(list) != 0 {
		t.Errorf("list by another label: %+v", list)
	}
	if _, err := s.C.Snapshot(ctx, src, client.SnapshotOptions{Name: name}); client.StatusOf(err) != 409 {
		t.Errorf("a taken name: %v", err)
	}

	// A sandbox from the snapshot: its files and config, the request's
	// fields on top.
	id, err := s.C.CreateSandbox(ctx, "docker", map[string]any{"snapshot": name, "memory_limit": "256m"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.C.DeleteSandbox(ctx, id) })
	if got := s.shell(t, id, "cat /sandbox/repo/marker; echo $A"); got != "ready\nfrom-source" {
		t.Errorf("sandbox from the snapshot sees %q", got)
	}
	info, _ := s.C.GetSandbox(ctx, id)
	if info.Config["snapshot"] != name || info.Config["memory_limit"] != "256m" {
		t.Errorf("config %v", info.Config)
	}

	// A pool whose members all start from it.
	init, err := s.C.InitializePool(ctx, 2, "docker", map[string]any{"snapshot": name, "tools_config": allTools})
	if err != nil || len(init.SandboxIDs) != 2 {
		t.Fatalf("pool from a snapshot: %+v %v", init, err)
	}
	for i := 0; i < 4; i++ {
		r, err := s.C.ExecuteInPool(ctx, "shell_executor", map[string]any{"command": "cat /sandbox/repo/marker; touch /sandbox/dirty"}, 0)
		if err != nil || r.Status != "success" || strings.TrimSpace(r.Output) != "ready" {
			t.Errorf("pool call %d: %+v %v", i, r, err)
		}
	}

	// Deleted: gone from the list, its sandboxes run on, a create from it
	// is refused.
	if err := s.C.DeleteSnapshot(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.C.GetSnapshot(ctx, name); client.StatusOf(err) != 404 {
		t.Errorf("deleted snapshot: %v", err)
	}
	if got := s.shell(t, id, "cat /sandbox/repo/marker"); got != "ready" {
		t.Errorf("sandbox after its snapshot was deleted: %q", got)
	}
	if _, err := s.C.CreateSandbox(ctx, "docker", map[string]any{"snapshot": name}); client.StatusOf(err) != 400 {
		t.Errorf("create from a deleted snapshot: %v", err)
	}
}

// counter is a background process printing a count and the time every
// 20 ms; the count lives in its memory.
var counter = client.ProcessRequest{Command: []string{"python3", "-u", "-c",
	"import time\ni = 0\nwhile True:\n    i += 1\n    print(i, time.time(), flush=True)\n    time.sleep(0.02)"}}

// ticks parses the counter's output.
func ticks(t *testing.T, s *server, id, pid string) (counts []int, times []float64) {
	t.Helper()
	out := readOutput(t, s, id, pid)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.Atoi(f[0])
		ts, _ := strconv.ParseFloat(f[1], 64)
		counts, times = append(counts, n), append(times, ts)
	}
	return counts, times
}

func TestPauseResume(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	id := s.sandbox(t, nil)
	p, err := s.C.StartProcess(ctx, id, counter)
	if err != nil {
		t.Fatal(err)
	}
	if !within(30*time.Second, func() bool { c, _ := ticks(t, s, id, p.ProcessID); return len(c) >= 5 }) {
		t.Fatal("the counter does not count")
	}
	if err := s.C.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	if _, err := s.C.ExecuteTool(ctx, id, "shell_executor", map[string]any{"command": "true"}); client.StatusOf(err) != 409 {
		t.Errorf("call to a paused sandbox: %v", err)
	}
	if _, err := s.C.Processes(ctx, id); client.StatusOf(err) != 409 {
		t.Errorf("processes of a paused sandbox: %v", err)
	}
	if info, _ := s.C.GetSandbox(ctx, id); info.Metadata["paused_at"] == nil {
		t.Errorf("paused sandbox without paused_at: %v", info.Metadata)
	}
	// What is tested is that nothing runs for as long as it stays paused.
	time.Sleep(1500 * time.Millisecond)
	if err := s.C.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	held := time.Since(pausedAt).Seconds()
	var counts []int
	var times []float64
	if !within(30*time.Second, func() bool {
		counts, times = ticks(t, s, id, p.ProcessID)
		return len(times) > 0 && times[len(times)-1] > float64(time.Now().Add(-time.Second).UnixNano())/1e9
	}) {
		t.Fatal("the counter did not go on after resume")
	}
	gap := 0.0
	for i := 1; i < len(times); i++ {
		gap = max(gap, times[i]-times[i-1])
		if counts[i] != counts[i-1]+1 {
			t.Fatalf("count went %d → %d: memory was not kept", counts[i-1], counts[i])
		}
	}
	// Paused between the two calls: the longest silence spans most of it.
	if gap < held-1.0 || gap < 1.0 {
		t.Errorf("longest gap between ticks %.2fs, paused for %.2fs: the counter ran while paused", gap, held)
	}
	if info, _ := s.C.GetSandbox(ctx, id); info.Metadata["paused_at"] != nil {
		t.Errorf("resumed sandbox shows paused_at %v", info.Metadata["paused_at"])
	}
}

// TestPauseRefusals: what cannot be paused says why.
func TestPauseRefusals(t *testing.T) {
	s := startServer(t, "")
	ctx := context.Background()
	init, err := s.C.InitializePool(ctx, 1, "docker", map[string]any{"tools_config": allTools})
	if err != nil || len(init.SandboxIDs) != 1 {
		t.Fatal(init, err)
	}
	if err := s.C.Pause(ctx, init.SandboxIDs[0]); client.StatusOf(err) != 409 {
		t.Errorf("pause of a pool member: %v", err)
	}
	if _, err := s.C.Fork(ctx, init.SandboxIDs[0], 1); client.StatusOf(err) != 409 {
		t.Errorf("fork of a pool member: %v", err)
	}
	if err := s.C.Pause(ctx, "nosuchsb"); client.StatusOf(err) != 404 {
		t.Errorf("pause of an unknown sandbox: %v", err)
	}
	id := s.sandbox(t, nil)
	term, err := s.C.OpenTerminal(ctx, id, client.TerminalOptions{Command: "sleep 600"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.C.Pause(ctx, id); client.StatusOf(err) != 409 {
		t.Errorf("pause with a terminal open: %v", err)
	}
	term.Close()
	if !within(10*time.Second, func() bool { return s.C.Pause(ctx, id) == nil }) {
		t.Error("pause after the terminal closed was refused")
	}
	// Deleting a paused sandbox works (the cleanup checks nothing is left).
	if err := s.C.DeleteSandbox(ctx, id); err != nil {
		t.Errorf("delete of a paused sandbox: %v", err)
	}
}

// TestKubeSnapshotsRefused: the Kubernetes backend keeps no snapshots and
// cannot freeze a pod; it says so (501), and the sandbox is untouched.
func TestKubeSnapshotsRefused(t *testing.T) {
	if !kubeMode() {
		t.Skip("the Kubernetes backend's refusals; on Podman the features work (TestForkChildren, TestPauseResume)")
	}
	s := startServer(t, "")
	ctx := context.Background()
	id := s.sandbox(t, nil)
	if _, err := s.C.Snapshot(ctx, id, client.SnapshotOptions{}); client.StatusOf(err) != 501 {
		t.Errorf("snapshot: %v", err)
	}
	if _, err := s.C.Fork(ctx, id, 2); client.StatusOf(err) != 501 {
		t.Errorf("fork: %v", err)
	}
	if err := s.C.Pause(ctx, id); client.StatusOf(err) != 501 {
		t.Errorf("pause: %v", err)
	}
	if _, err := s.C.CreateSandbox(ctx, "docker", map[string]any{"snapshot": "x"}); client.StatusOf(err) != 501 {
		t.Errorf("create from a snapshot: %v", err)
	}
	if list, err := s.C.Snapshots(ctx, nil); err != nil || len(list) != 0 {
		t.Errorf("list: %v %v", list, err)
	}
	if got := s.shell(t, id, "echo ok"); got != "ok" {
		t.Errorf("the sandbox after the refusals: %q", got)
	}
}
