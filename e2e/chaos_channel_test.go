package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The runner channel (channel_test.go) under kill -9 of the server and the
// backend plugin, and with its directory removed underneath.

// onChannel makes a sandbox whose runner is on its channel.
func onChannel(t *testing.T, s *server) (id, cid string) {
	t.Helper()
	id = s.sandbox(t, nil)
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(40+2)"}); r.Output != "42\n" {
		t.Fatalf("call: %+v", r)
	}
	if n := channelConns(t, s, id); n != 1 {
		t.Fatalf("%d connections on the channel, want 1", n)
	}
	return id, "sandbox-" + id
}

// running lists the processes in a container that run exactly argv.
func running(t *testing.T, s *server, cid string, argv ...string) string {
	t.Helper()
	const find = `import os, sys
want = "\0".join(sys.argv[1:]).encode() + b"\0"
for p in os.listdir("/proc"):
    try:
        if p.isdigit() and open("/proc/%s/cmdline" % p, "rb").read() == want:
            print(p)
    except OSError:
        pass
`
	out, err := exec.Command("podman", append([]string{"--url", s.Podman, "exec", cid, "python3", "-c", find}, argv...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("look for %v: %v: %s", argv, err, out)
	}
	return string(out)
}

// waitRunning waits (bounded) until argv runs in the container (want) or
// no longer does.
func waitRunning(t *testing.T, s *server, cid string, want bool, argv ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for (running(t, s, cid, argv...) != "") != want {
		if time.Now().After(deadline) {
			t.Fatalf("%v running in %s: %v, want %v", argv, cid, !want, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestChaosKillServerChannel: kill -9 of the server ends the runner on the
// channel and the call it was running (the channel's EOF); the next server
// replaces a socket a start left behind, and its runner is on a channel.
func TestChaosKillServerChannel(t *testing.T) {
	s := channelServer(t)
	id, cid := onChannel(t, s)
	started := make(chan struct{})
	go func() {
		close(started)
		s.C.ExecuteTool(context.Background(), id, "shell_executor", map[string]any{"command": "exec sleep 301", "timeout": 120})
	}()
	<-started
	waitRunning(t, s, cid, true, "sleep", "301")

	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	waitRunners(t, s, cid, 0)
	waitRunning(t, s, cid, false, "sleep", "301")
	// What a kill during a runner's start leaves.
	if err := os.WriteFile(filepath.Join(s.channelDir(id), "runner.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	s2 := startServer(t, "", "--instance", s.Instance)
	if r := s2.exec(t, id, "python_executor", map[string]any{"code": "print(6*7)"}); r.Output != "42\n" {
		t.Fatalf("call after the kill: %+v", r)
	}
	if n := channelConns(t, s, id); n != 1 { // s2.Instance is not the one it serves
		t.Errorf("%d connections on the channel after the restart, want 1", n)
	}
	waitRunners(t, s2, cid, 1)
}

// TestChaosChannelDirRemoved: the channel's directory removed on the host
// takes nothing from a connected runner; a runner started after it (the
// old one killed) keeps the protocol on its session, and calls go on.
func TestChaosChannelDirRemoved(t *testing.T) {
	s := channelServer(t)
	id, cid := onChannel(t, s)
	if err := os.RemoveAll(s.channelDir(id)); err != nil {
		t.Fatal(err)
	}
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(1)"}); r.Output != "1\n" {
		t.Fatalf("call with the directory gone: %+v", r)
	}
	old := waitRunners(t, s, cid, 1)
	if out, err := exec.Command("podman", "--url", s.Podman, "exec", cid, "kill", "-9", strconv.Itoa(old[0])).CombinedOutput(); err != nil {
		t.Fatalf("kill the runner: %v: %s", err, out)
	}
	for i := 0; i < 3; i++ {
		if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(2)"}); r.Output != "2\n" {
			t.Fatalf("call %d after the runner's kill: %+v", i, r)
		}
	}
	if now := waitRunners(t, s, cid, 1); now[0] == old[0] {
		t.Errorf("runner %d still there after its kill", old[0])
	}
	if n := channelConns(t, s, id); n != 0 {
		t.Errorf("%d connections on a channel whose directory is gone", n)
	}
	if err := s.C.DeleteSandbox(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// TestChaosKillBackendChannel: kill -9 of the backend plugin (which carried
// the session that started the runner, not its protocol) takes nothing
// from the runner: the next calls, the first among them, are served by
// the same runner.
func TestChaosKillBackendChannel(t *testing.T) {
	s := channelServer(t)
	id, cid := onChannel(t, s)
	old := waitRunners(t, s, cid, 1)
	killAndWait(t, pluginPID(t, s.cmd.Process.Pid, "enclave-backend-podman"))
	for i := 0; i < 3; i++ {
		if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(4)"}); r.Output != "4\n" {
			t.Fatalf("call %d after the backend's kill: %+v %s", i, r, errText(r))
		}
	}
	if now := waitRunners(t, s, cid, 1); now[0] != old[0] {
		t.Errorf("runner %d replaced by %d: the backend's kill ended it", old[0], now[0])
	}
}

// TestChaosPodmanDownChannel: with the Podman service killed, a sandbox
// whose runner is on its channel goes on answering calls (conmon keeps the
// container; nothing of a call crosses the service), and after the
// service's restart the same runner serves them.
func TestChaosPodmanDownChannel(t *testing.T) {
	s, start, kill := onPrivatePodman(t)
	id, cid := onChannel(t, s)
	old := waitRunners(t, s, cid, 1)
	kill()
	for i := 0; i < 5; i++ {
		if r := s.exec(t, id, "python_executor", map[string]any{"code": "print('down', " + strconv.Itoa(i) + ")"}); r.Output != "down "+strconv.Itoa(i)+"\n" {
			t.Fatalf("call %d with the Podman service down: %+v %s", i, r, errText(r))
		}
	}
	start()
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print('back')"}); r.Output != "back\n" {
		t.Fatalf("call after the Podman service's restart: %+v %s", r, errText(r))
	}
	if now := waitRunners(t, s, cid, 1); now[0] != old[0] {
		t.Errorf("runner %d replaced by %d across the Podman service's restart", old[0], now[0])
	}
}

// TestChaosWedgedAfterBackendKill: a call that stops its runner after the
// backend plugin that started it was killed (so that session can no longer
// kill it) gets its verdict, the next call a fresh runner, and the stopped
// runner does not linger beside it.
func TestChaosWedgedAfterBackendKill(t *testing.T) {
	s := channelServer(t)
	id, cid := onChannel(t, s)
	old := waitRunners(t, s, cid, 1)
	killAndWait(t, pluginPID(t, s.cmd.Process.Pid, "enclave-backend-podman"))
	stop := "kill -STOP " + strconv.Itoa(old[0]) + "; sleep 30"
	if r := s.exec(t, id, "shell_executor", map[string]any{"command": stop, "timeout": 1}); r.Status == "success" {
		t.Errorf("a call that stopped its runner succeeded: %+v", r)
	}
	if r := s.exec(t, id, "python_executor", map[string]any{"code": "print(5)"}); r.Output != "5\n" {
		t.Fatalf("call after the wedge: %+v %s", r, errText(r))
	}
	if now := waitRunners(t, s, cid, 1); now[0] == old[0] {
		t.Errorf("the wedged runner %d is still the sandbox's runner", old[0])
	}
}

// TestChaosKillServerBooted: kill -9 of the server ends a booted runner as
// it ends one started over a session (its channel's EOF); the next server
// starts a runner and serves the sandbox.
func TestChaosKillServerBooted(t *testing.T) {
	s := channelServer(t)
	id, cid := booted(t, s)
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	waitRunners(t, s, cid, 0)

	s2 := startServer(t, "", "--instance", s.Instance)
	if r := s2.exec(t, id, "python_executor", map[string]any{"code": "print(6*7)"}); r.Output != "42\n" {
		t.Fatalf("call after the kill: %+v", r)
	}
	waitRunners(t, s2, cid, 1)
}

// TestChaosKillServerBootLearned: a server killed with -9 while the only
// sandbox whose runner booted is paused (so the next server starts no
// runner of that image for a while) still hands its knowledge on: the
// booted container's label tells the next server, at re-adoption, that the
// image boots, and its first new sandbox of the image boots its runner (no
// exec session). The paused sandbox resumes and serves calls.
func TestChaosKillServerBootLearned(t *testing.T) {
	s := channelServer(t)
	ctx := context.Background()
	id, cid := booted(t, s)
	list, err := s.C.ListSandboxes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range list { // the first of the image (booted's): its runner would teach the next server
		if other.ID != id {
			if err := s.C.DeleteSandbox(ctx, other.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.C.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()

	s2 := startServer(t, "", "--instance", s.Instance)
	fresh := s2.sandbox(t, map[string]any{"env_vars": map[string]string{"AFTER": "restart"}})
	if r := s2.exec(t, fresh, "python_executor", map[string]any{"code": "print(40+2)"}); r.Output != "42\n" {
		t.Fatalf("call in the restarted server's first new sandbox: %+v", r)
	}
	if n := execSessions(t, s2, "sandbox-"+fresh); n != 0 {
		t.Errorf("%d exec sessions in the restarted server's first sandbox of a booted image, want 0 (booted)", n)
	}
	if err := s2.C.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if r := s2.exec(t, id, "python_executor", map[string]any{"code": "print(6*7)"}); r.Output != "42\n" {
		t.Fatalf("call after the resume: %+v", r)
	}
	waitRunners(t, s2, cid, 1)
}

// TestChaosKillServerWhileBooting: kill -9 of the server as a sandbox's
// runner boots (right after the create answered) leaves no runner behind
// (one that finds nobody on its channel exits), and the next server removes
// what the boot left in the channel's directory and serves the sandbox.
func TestChaosKillServerWhileBooting(t *testing.T) {
	s := channelServer(t)
	booted(t, s) // teaches the server the image: the next create boots
	id, err := s.C.CreateSandbox(context.Background(), "docker", map[string]any{"tools_config": allTools, "env_vars": map[string]string{"N": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	cid := "sandbox-" + id
	waitRunners(t, s, cid, 0)

	s2 := startServer(t, "", "--instance", s.Instance)
	t.Cleanup(func() { s2.C.DeleteSandbox(context.Background(), id) })
	if r := s2.exec(t, id, "python_executor", map[string]any{"code": "print(6*7)"}); r.Output != "42\n" {
		t.Fatalf("call after the kill: %+v", r)
	}
	waitRunners(t, s2, cid, 1)
	for _, f := range []string{"runner.key", "runner.boot"} {
		if _, err := os.Stat(filepath.Join(s.channelDir(id), f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the channel directory: %v", f, err)
		}
	}
}
