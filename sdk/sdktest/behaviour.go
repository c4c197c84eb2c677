package sdktest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// RunBackendBehaviour runs what every backend's exec, sessions, archives
// and lifecycle must do, through the gRPC shims, in one sandbox made from
// spec (an image with sh, bash, python3, tar and GNU timeout): exit codes,
// env and working dir, stdin, deadlines that reach grandchildren,
// cancellation that kills the process group, output caps, a session of
// several rounds, an archive round trip, and stop that keeps the sandbox
// until it is removed.
func RunBackendBehaviour(t *testing.T, impl backend.Backend, spec sdk.Spec) {
	t.Helper()
	c := BackendClient(t, impl)
	ctx := context.Background()
	st, err := c.Create(ctx, spec, time.Minute)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { c.Remove(context.Background(), st.ContainerID) })
	ref := st.ContainerID
	exec := func(t *testing.T, ctx context.Context, req sdk.ExecRequest) sdk.ExecResult {
		t.Helper()
		r, err := c.Exec(ctx, ref, req)
		if err != nil {
			t.Fatalf("Exec(%q): %v", req.Argv, err)
		}
		return r
	}
	// absent reports whether file stays absent for longer than the process
	// that would have made it needs (it sleeps 1 s).
	absent := func(t *testing.T, file string) bool {
		t.Helper()
		time.Sleep(1500 * time.Millisecond)
		return exec(t, ctx, sdk.ExecRequest{Argv: []string{"test", "-e", file}}).ExitCode != 0
	}

	t.Run("exec", func(t *testing.T) {
		tests := []struct {
			name             string
			req              sdk.ExecRequest
			stdout, stderr   string
			code             int
			timedOut, anyErr bool
		}{
			{name: "env and working dir", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "echo $GREETING; pwd"}, Env: map[string]string{"GREETING": "hi there"}, WorkingDir: "/tmp"}, stdout: "hi there\n/tmp\n"},
			{name: "stderr and code", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "echo oops >&2; exit 3"}}, stderr: "oops\n", code: 3},
			{name: "stdin then EOF", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "cat; cat"}, Stdin: []byte("abc")}, stdout: "abc", anyErr: true},
			{name: "stdin closed by default", req: sdk.ExecRequest{Argv: []string{"cat"}}, anyErr: true},
			{name: "exit 124 is not a timeout", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "exit 124"}, Timeout: 5 * time.Second}, code: 124, anyErr: true},
			{name: "kill -9 self is not a timeout", req: sdk.ExecRequest{Argv: []string{"bash", "-c", "kill -9 $$"}, Timeout: 5 * time.Second}, code: 137, anyErr: true},
			{name: "deadline", req: sdk.ExecRequest{Argv: []string{"sh", "-c", "echo before; sleep 5"}, Timeout: 300 * time.Millisecond}, stdout: "before\n", timedOut: true, anyErr: true},
			{name: "missing program", req: sdk.ExecRequest{Argv: []string{"no-such-program"}}, code: 127, anyErr: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := exec(t, ctx, tt.req)
				if string(r.Stdout) != tt.stdout {
					t.Errorf("stdout = %q, want %q", r.Stdout, tt.stdout)
				}
				if !tt.anyErr && string(r.Stderr) != tt.stderr {
					t.Errorf("stderr = %q, want %q", r.Stderr, tt.stderr)
				}
				if r.TimedOut != tt.timedOut {
					t.Errorf("TimedOut = %v, want %v (stderr %q)", r.TimedOut, tt.timedOut, r.Stderr)
				}
				if !tt.timedOut && r.ExitCode != tt.code {
					t.Errorf("exit code = %d, want %d (stderr %q)", r.ExitCode, tt.code, r.Stderr)
				}
			})
		}
	})
	t.Run("deadline kills grandchildren", func(t *testing.T) {
		marker := fmt.Sprintf("/tmp/m_%d", time.Now().UnixNano())
		r := exec(t, ctx, sdk.ExecRequest{Argv: []string{"bash", "-c", `bash -c "sleep 1; touch ` + marker + `" & wait`}, Timeout: 300 * time.Millisecond})
		if !r.TimedOut {
			t.Fatalf("TimedOut = false, want true")
		}
		if !absent(t, marker) {
			t.Errorf("%s exists: the grandchild survived the deadline", marker)
		}
	})
	t.Run("cancel kills the group", func(t *testing.T) {
		marker := fmt.Sprintf("/tmp/c_%d", time.Now().UnixNano())
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		// Through the shims the caller sees its own context's error; in
		// process, Killed. Either way the process must be gone.
		r, err := c.Exec(cctx, ref, sdk.ExecRequest{Argv: []string{"sh", "-c", "sleep 1.5; touch " + marker}, Timeout: time.Minute})
		if err == nil && !r.Killed || err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("cancelled Exec = %+v, %v; want Killed or the context's error", r, err)
		}
		if !absent(t, marker) {
			t.Errorf("%s exists: the cancelled process kept running", marker)
		}
	})
	t.Run("output cap", func(t *testing.T) {
		r := exec(t, ctx, sdk.ExecRequest{Argv: []string{"sh", "-c", "head -c 100000 /dev/zero"}, MaxOutputBytes: 1000})
		if len(r.Stdout) != 1000 || !r.StdoutTruncated || r.ExitCode != 0 {
			t.Errorf("len(stdout)=%d truncated=%v code=%d, want 1000 true 0", len(r.Stdout), r.StdoutTruncated, r.ExitCode)
		}
	})
	t.Run("archive round trip", func(t *testing.T) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
		tw.Write([]byte("world"))
		tw.Close()
		if err := c.PutArchive(ctx, ref, "/tmp", &buf); err != nil {
			t.Fatalf("PutArchive: %v", err)
		}
		var out bytes.Buffer
		if err := c.GetArchive(ctx, ref, "/tmp/hello.txt", &out); err != nil {
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
	})
	t.Run("session rounds", func(t *testing.T) {
		s, err := c.Session(ctx, ref, sdk.ExecRequest{Argv: []string{"python3", "-u", "-c",
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
		if code, err := s.Wait(); err != nil || code != 0 {
			t.Errorf("Wait = %d, %v; want 0, nil", code, err)
		}
	})
	t.Run("stop keeps the sandbox until removed", func(t *testing.T) {
		if err := c.Stop(ctx, ref, time.Second); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		got, err := c.Inspect(ctx, ref)
		if err != nil || got.Status == "running" {
			t.Errorf("after Stop: %+v, %v; want a sandbox that is not running", got, err)
		}
		if _, err := c.Exec(ctx, ref, sdk.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, sdk.ErrSandboxNotFound) {
			t.Errorf("Exec in a stopped sandbox = %v, want sdk.ErrSandboxNotFound", err)
		}
		if err := c.Remove(ctx, ref); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if _, err := c.Inspect(ctx, ref); !errors.Is(err, sdk.ErrSandboxNotFound) {
			t.Errorf("Inspect(removed) = %v, want sdk.ErrSandboxNotFound", err)
		}
	})
}
