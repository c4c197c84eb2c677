package runner

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/sdktest"
)

// TestChannelUnreachable: a runner that cannot reach its channel (the
// directory is not mounted where it was told) keeps the protocol on its
// session, and the socket is gone once it started.
func TestChannelUnreachable(t *testing.T) {
	host := t.TempDir()
	r := localRunnerWith(t, Options{Standbys: 1, Channel: &Channel{HostDir: host, SandboxDir: filepath.Join(host, "not-mounted")}})
	if r.OnChannel() {
		t.Fatal("on a channel it could not reach")
	}
	res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"echo", "hi"}}, nil)
	if err != nil || string(res.Stdout) != "hi\n" {
		t.Fatalf("call: %q %v", res.Stdout, err)
	}
	if _, err := os.Stat(filepath.Join(host, ChannelSocket)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after the start: %v", err)
	}
}

// TestChannelStrangers: anything in the sandbox may connect to the socket
// while the runner starts; only the connection with the runner's key is
// taken, the others are closed within the handshake's bound, and a socket
// left by an earlier start is replaced.
func TestChannelStrangers(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ChannelSocket), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := sdktest.NewLocalHost(t)
	strangers := map[string]string{"wrong key": strings.Repeat("0", 32) + "\n", "says nothing": "", "short": "abc"}
	conns := map[string]net.Conn{}
	r, err := Start(context.Background(), context.Background(), func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error) {
		for name, says := range strangers { // they get there before the runner
			c, err := net.Dial("unix", filepath.Join(dir, ChannelSocket))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			c.Write([]byte(says))
			conns[name] = c
		}
		return host.Session(ctx, host.ID, req)
	}, Options{Standbys: 1, Channel: &Channel{HostDir: dir, SandboxDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.OnChannel() {
		t.Fatal("the runner lost its channel to strangers")
	}
	for name, c := range conns {
		c.SetReadDeadline(time.Now().Add(channelHandshake + 5*time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: read %d bytes, %v; want EOF (closed by the host)", name, n, err)
		}
		c.Close()
	}
	res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"echo", "hi"}}, nil)
	if err != nil || string(res.Stdout) != "hi\n" {
		t.Fatalf("call: %q %v", res.Stdout, err)
	}
}

// TestChannelOutlivesSession: once on its channel, a runner no longer
// needs the session that started it (its relay may go with a backend
// plugin): its stdin's EOF ends nothing, and calls go on.
func TestChannelOutlivesSession(t *testing.T) {
	dir := t.TempDir()
	r := localRunnerWith(t, Options{Standbys: 1, Channel: &Channel{HostDir: dir, SandboxDir: dir}})
	r.sess.Stdin().Close()
	for i := 0; i < 3; i++ {
		res, err := r.Exec(context.Background(), sdk.ExecRequest{Argv: []string{"echo", strconv.Itoa(i)}}, nil)
		if err != nil || string(res.Stdout) != strconv.Itoa(i)+"\n" {
			t.Fatalf("call %d after the session's stdin closed: %q %v", i, res.Stdout, err)
		}
	}
	if r.Dead() {
		t.Fatal("the runner ended with its session's stdin")
	}
}

// TestChannelEnds: a runner on a channel ends, and kills the calls it runs,
// when its channel ends (the host closes it, or the host is gone), and the
// host sees a runner that was killed end.
func TestChannelEnds(t *testing.T) {
	tests := []struct {
		name      string
		end       func(r *Runner)
		killsCall bool
	}{
		{"channel closed", func(r *Runner) { r.conn.Load().CloseWrite() }, true},
		{"Close", (*Runner).Close, true},
		{"runner killed", func(r *Runner) { syscall.Kill(r.Pid, syscall.SIGKILL) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := localRunnerWith(t, Options{Standbys: 1, Channel: &Channel{HostDir: dir, SandboxDir: dir}})
			if !r.OnChannel() {
				t.Fatal("not on its channel")
			}
			if _, err := os.Stat(filepath.Join(dir, ChannelSocket)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket left after the start: %v", err)
			}
			pids := make(chan int, 1)
			done := make(chan error, 1)
			go func() {
				_, err := r.ExecStream(context.Background(), sdk.ExecRequest{Argv: []string{"sh", "-c", "echo $$; exec sleep 60"}}, nil, func(_ string, b []byte) {
					if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
						pids <- pid
					}
				})
				done <- err
			}()
			var pid int
			select {
			case pid = <-pids:
			case <-time.After(10 * time.Second):
				t.Fatal("the call did not start")
			}
			tt.end(r)
			select {
			case <-r.Done():
			case <-time.After(15 * time.Second):
				t.Fatal("the host did not see the runner end")
			}
			select {
			case err := <-done:
				if err == nil {
					t.Error("the call succeeded after its runner ended")
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the call did not end with its runner")
			}
			if tt.killsCall {
				waitGone(t, pid)
			} else {
				syscall.Kill(pid, syscall.SIGKILL) // orphaned with its runner, as on the session
			}
		})
	}
}

// waitGone waits (bounded) until process pid no longer runs.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(stat), ") Z ") {
			return // a zombie: dead, not yet reaped
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("call process %d outlived its runner", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FuzzPresentsKey: whatever a connection sends, it passes the handshake
// only when it starts with the key and a newline.
func FuzzPresentsKey(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Add(append(append([]byte{}, key...), '\n'))
	f.Add(append(append([]byte{}, key...), "\nmore"...))
	f.Add(key)
	f.Add([]byte("0123456789abcdef0123456789abcde\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, sent []byte) {
		host, sandbox := net.Pipe()
		defer host.Close()
		go func() {
			sandbox.Write(sent)
			sandbox.Close()
		}()
		want := len(sent) > len(key) && string(sent[:len(key)]) == string(key) && sent[len(key)] == '\n'
		if got := presentsKey(host, key); got != want {
			t.Fatalf("presentsKey(%q) = %v, want %v", sent, got, want)
		}
	})
}
