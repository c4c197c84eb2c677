package sdktest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// RunBackend runs the backend contract through the gRPC shims: Info, create,
// inspect, list by label, exec (output, exit codes, stdin, deadline),
// session, archives, stop, remove, and typed errors. spec must name an image
// with sh, cat and GNU timeout; its labels are used to list.
func RunBackend(t *testing.T, impl backend.Backend, spec sdk.Spec) {
	t.Helper()
	c := BackendClient(t, impl)
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != sdk.KindBackend || info.Name == "" || len(info.SandboxTypes) == 0 || !info.Supports(sdk.APIVersion) {
		t.Errorf("Info = %+v: want kind backend, a name, sandbox types and API version %d", info, sdk.APIVersion)
	}
	st, err := c.Create(ctx, spec, 30*time.Second)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer c.Remove(context.Background(), st.ContainerID)
	if st.Status != "running" || st.ContainerID == "" {
		t.Errorf("Create returned %+v, want a running container", st)
	}
	if got, err := c.Inspect(ctx, st.ContainerID); err != nil || got.Status != "running" {
		t.Errorf("Inspect = %+v, %v", got, err)
	}
	list, err := c.List(ctx, spec.Labels)
	found := false
	for _, s := range list {
		found = found || s.ContainerID == st.ContainerID
	}
	if err != nil || !found {
		t.Errorf("List(%v) = %v, %v: the new container is missing", spec.Labels, list, err)
	}

	t.Run("exec", func(t *testing.T) {
		r, err := c.Exec(ctx, st.ContainerID, sdk.ExecRequest{Argv: []string{"sh", "-c", "cat; echo err >&2; exit 3"}, Stdin: []byte("in")})
		if err != nil {
			t.Fatal(err)
		}
		if string(r.Stdout) != "in" || string(r.Stderr) != "err\n" || r.ExitCode != 3 || r.TimedOut {
			t.Errorf("Exec = stdout %q stderr %q code %d timedOut %v", r.Stdout, r.Stderr, r.ExitCode, r.TimedOut)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		r, err := c.Exec(ctx, st.ContainerID, sdk.ExecRequest{Argv: []string{"sleep", "5"}, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if !r.TimedOut {
			t.Errorf("TimedOut = false after the deadline")
		}
	})
	t.Run("session", func(t *testing.T) {
		s, err := c.Session(ctx, st.ContainerID, sdk.ExecRequest{Argv: []string{"cat"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		io.WriteString(s.Stdin(), "ping\n")
		s.Stdin().Close()
		out, _ := io.ReadAll(s.Stdout())
		if code, err := s.Wait(); string(out) != "ping\n" || code != 0 || err != nil {
			t.Errorf("session: out %q code %d err %v", out, code, err)
		}
	})
	t.Run("archives", func(t *testing.T) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "f.txt", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
		tw.Write([]byte("abc"))
		tw.Close()
		if err := c.PutArchive(ctx, st.ContainerID, "/tmp", &buf); err != nil {
			t.Fatalf("PutArchive: %v", err)
		}
		var out bytes.Buffer
		if err := c.GetArchive(ctx, st.ContainerID, "/tmp/f.txt", &out); err != nil {
			t.Fatalf("GetArchive: %v", err)
		}
		if !strings.Contains(out.String(), "abc") {
			t.Errorf("GetArchive did not return the file")
		}
		if err := c.GetArchive(ctx, st.ContainerID, "/no/such/path", io.Discard); !errors.Is(err, sdk.ErrPathNotFound) {
			t.Errorf("GetArchive(missing) = %v, want sdk.ErrPathNotFound", err)
		}
	})
	if err := c.Stop(ctx, st.ContainerID, time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := c.Remove(ctx, st.ContainerID); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if err := c.Remove(ctx, st.ContainerID); err != nil {
		t.Errorf("Remove of a removed container = %v, want nil", err)
	}
	if _, err := c.Inspect(ctx, st.ContainerID); !errors.Is(err, sdk.ErrSandboxNotFound) {
		t.Errorf("Inspect(removed) = %v, want sdk.ErrSandboxNotFound", err)
	}
}
