//go:build remote

package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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

func TestExec(t *testing.T) {
	p := testBackend(t)
	st := newSandbox(t, p, nil)
	ctx := context.Background()
	tests := []struct {
		name       string
		req        sdk.ExecRequest
		wantOut    string
		wantErr    string
		wantCode   int
		wantTimout bool
	}{
		{name: "stdout", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "echo $GREETING; pwd"}, Env: map[string]string{"GREETING": "hi"}, WorkingDir: "/sandbox"}, wantOut: "hi\n/sandbox\n"},
		{name: "stderr and code", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "echo oops >&2; exit 3"}}, wantErr: "oops\n", wantCode: 3},
		{name: "stdin then EOF", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "cat; cat"}, Stdin: []byte("abc")}, wantOut: "abc"},
		{name: "stdin closed by default", req: sdk.ExecRequest{Argv: []string{"cat"}}, wantOut: ""},
		{name: "exit 124 is not a timeout", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "exit 124"}, Timeout: 5 * time.Second}, wantCode: 124},
		{name: "kill -9 self is not a timeout", req: sdk.ExecRequest{Argv: []string{"bash", "-c", "kill -9 $$"}, Timeout: 5 * time.Second}, wantCode: 137},
		{name: "deadline", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "echo before; sleep 5"}, Timeout: 300 * time.Millisecond}, wantOut: "before\n", wantCode: 124, wantTimout: true},
		{name: "missing program", req: sdk.ExecRequest{Argv: []string{"no-such-program"}}, wantCode: 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := p.Exec(ctx, st.ContainerID, tt.req)
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if got := string(r.Stdout); got != tt.wantOut {
				t.Errorf("stdout = %q, want %q", got, tt.wantOut)
			}
			if tt.wantErr != "" && string(r.Stderr) != tt.wantErr {
				t.Errorf("stderr = %q, want %q", r.Stderr, tt.wantErr)
			}
			if r.TimedOut != tt.wantTimout {
				t.Errorf("TimedOut = %v, want %v (stderr %q)", r.TimedOut, tt.wantTimout, r.Stderr)
			}
			if !tt.wantTimout && r.ExitCode != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.ExitCode, tt.wantCode, r.Stderr)
			}
		})
	}
}

func TestExecDeadlineKillsGrandchildren(t *testing.T) {
	p := testBackend(t)
	st := newSandbox(t, p, nil)
	ctx := context.Background()
	marker := fmt.Sprintf("/tmp/m_%d", time.Now().UnixNano())
	r, err := p.Exec(ctx, st.ContainerID, sdk.ExecRequest{Argv: []string{"bash", "-c", `bash -c "sleep 2; touch ` + marker + `" & wait`}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !r.TimedOut {
		t.Fatalf("TimedOut = false, want true")
	}
	time.Sleep(2500 * time.Millisecond)
	r, err = p.Exec(ctx, st.ContainerID, sdk.ExecRequest{Argv: []string{"test", "-e", marker}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode == 0 {
		t.Errorf("marker %s exists: the grandchild survived the deadline", marker)
	}
}

func TestExecCancelKillsGroup(t *testing.T) {
	p := testBackend(t)
	st := newSandbox(t, p, nil)
	marker := fmt.Sprintf("/tmp/c_%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	r, err := p.Exec(ctx, st.ContainerID, sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 2; touch " + marker}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Killed {
		t.Errorf("Killed = false after cancellation")
	}
	time.Sleep(2500 * time.Millisecond)
	r, _ = p.Exec(context.Background(), st.ContainerID, sdk.ExecRequest{Argv: []string{"test", "-e", marker}})
	if r.ExitCode == 0 {
		t.Errorf("marker exists: the cancelled process kept running")
	}
}

func TestOutputCap(t *testing.T) {
	p := testBackend(t)
	st := newSandbox(t, p, nil)
	r, err := p.Exec(context.Background(), st.ContainerID, sdk.ExecRequest{Argv: []string{"sh", "-c", "head -c 100000 /dev/zero"}, MaxOutputBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Stdout) != 1000 || !r.StdoutTruncated || r.ExitCode != 0 {
		t.Errorf("len(stdout)=%d truncated=%v code=%d, want 1000 true 0", len(r.Stdout), r.StdoutTruncated, r.ExitCode)
	}
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

func TestArchiveRoundTrip(t *testing.T) {
	p := testBackend(t)
	st := newSandbox(t, p, nil)
	ctx := context.Background()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("world"))
	tw.Close()
	if err := p.PutArchive(ctx, st.ContainerID, "/sandbox", &buf); err != nil {
		t.Fatalf("PutArchive: %v", err)
	}
	var out bytes.Buffer
	if err := p.GetArchive(ctx, st.ContainerID, "/sandbox/hello.txt", &out); err != nil {
		t.Fatalf("GetArchive: %v", err)
	}
	tr := tar.NewReader(&out)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(tr)
	if h.Name != "hello.txt" || string(data) != "world" {
		t.Errorf("got %q=%q, want hello.txt=world", h.Name, data)
	}
	if err := p.GetArchive(ctx, st.ContainerID, "/nope", io.Discard); !errors.Is(err, sdk.ErrPathNotFound) {
		t.Errorf("GetArchive(missing) = %v, want ErrPathNotFound", err)
	}
}

func TestSession(t *testing.T) {
	p := testBackend(t)
	st := newSandbox(t, p, nil)
	s, err := p.Session(context.Background(), st.ContainerID, sdk.ExecRequest{Argv: []string{"python3", "-u", "-c",
		"import sys\nfor l in sys.stdin:\n    print(int(l)*2, flush=True)"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := bufio.NewReader(s.Stdout())
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(s.Stdin(), "%d\n", i)
		got, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%d\n", i*2); got != want {
			t.Errorf("round %d: got %q, want %q", i, got, want)
		}
	}
	s.Stdin().Close()
	io.Copy(io.Discard, out)
	code, err := s.Wait()
	if err != nil || code != 0 {
		t.Errorf("Wait = %d, %v; want 0, nil", code, err)
	}
}

func TestLifecycle(t *testing.T) {
	p := testBackend(t)
	st := newSandbox(t, p, nil)
	ctx := context.Background()
	list, err := p.List(ctx, map[string]string{"enclave.test": "1"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range list {
		found = found || s.ContainerID == st.ContainerID
	}
	if !found {
		t.Errorf("List by label does not include %s", st.ContainerID)
	}
	if err := p.Stop(ctx, st.ContainerID, 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if s, _ := p.Inspect(ctx, st.ContainerID); s.Status == "running" {
		t.Errorf("status after stop = running")
	}
	if err := p.Remove(ctx, st.ContainerID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := p.Remove(ctx, st.ContainerID); err != nil {
		t.Errorf("second Remove = %v, want nil", err)
	}
	if _, err := p.Inspect(ctx, st.ContainerID); !errors.Is(err, sdk.ErrSandboxNotFound) {
		t.Errorf("Inspect(removed) = %v, want ErrSandboxNotFound", err)
	}
}

func TestContract(t *testing.T) {
	p := testBackend(t)
	sdktest.RunBackend(t, p, sdk.Spec{Name: fmt.Sprintf("enclave-contract-%d", time.Now().UnixNano()), Image: testImage(),
		WorkingDir: "/sandbox", MemoryBytes: 256 << 20, CPUs: 1, PidsLimit: 256, Labels: map[string]string{"enclave.test": "contract"}})
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
