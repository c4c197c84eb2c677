package runner

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// bootLocal starts what a sandbox's init would for b, on this machine:
// the argv b left in its BootFile (b.Argv once that is gone), with stdio
// on /dev/null, in its own session.
func bootLocal(t *testing.T, b *Boot) *exec.Cmd {
	t.Helper()
	argv := b.Argv
	if data, err := os.ReadFile(filepath.Join(b.dir, BootFile)); err == nil {
		if err := json.Unmarshal(data, &argv); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// exited waits (bounded) for a booted runner's process to exit.
func exited(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(10 * time.Second):
		t.Fatal("the booted runner did not exit")
		return -1
	}
}

// TestBoot: a runner the sandbox started itself, with no session, serves
// calls on its channel as a started one does; its key file is gone once it
// connected, and closing it ends it.
func TestBoot(t *testing.T) {
	for _, standbys := range []int{1, 0} {
		t.Run(variantName(Options{Standbys: standbys, Channel: &Channel{}}), func(t *testing.T) {
			d := t.TempDir()
			b, err := PrepareBoot(Channel{HostDir: d, SandboxDir: d}, Options{Standbys: standbys})
			if err != nil {
				t.Fatal(err)
			}
			cmd := bootLocal(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := b.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !r.OnChannel() || r.Pid != cmd.Process.Pid {
				t.Errorf("booted runner: on its channel %v, pid %d (started %d)", r.OnChannel(), r.Pid, cmd.Process.Pid)
			}
			for _, f := range []string{BootKeyFile, BootFile, ChannelSocket} {
				if _, err := os.Stat(filepath.Join(d, f)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left once the runner connected: %v", f, err)
				}
			}
			testExec(t, r)
			r.Close()
			<-r.Done()
			if code := exited(t, cmd); code != 0 {
				t.Errorf("closed booted runner exited with %d", code)
			}
		})
	}
}

// TestBootGivenUp: a boot nobody answers ends at its bound, taking its key
// and socket with it; a runner that starts after that finds no key and
// exits. A connection without the key is never taken for the runner.
func TestBootGivenUp(t *testing.T) {
	d := t.TempDir()
	b, err := PrepareBoot(Channel{HostDir: d, SandboxDir: d}, Options{Standbys: 1})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := net.Dial("unix", filepath.Join(d, ChannelSocket))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	stranger.Write([]byte("not the key, not the key, not th\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r, err := b.Accept(ctx); err == nil {
		r.Close()
		t.Fatal("a boot nobody answered with the key accepted a runner")
	}
	for _, f := range []string{BootKeyFile, BootFile, ChannelSocket} {
		if _, err := os.Stat(filepath.Join(d, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after the boot was given up: %v", f, err)
		}
	}
	if code := exited(t, bootLocal(t, b)); code != 3 {
		t.Errorf("a runner booted too late exited with %d, want 3", code)
	}
}
