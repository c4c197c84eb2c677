package executor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/enclave-sandbox/enclave/internal/fake"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// The fake backend has no sessions, so these tests see the one-shot path;
// the runner path is covered by package runner and the e2e suites.

type recorder struct {
	mu   sync.Mutex
	reqs []sdk.ExecRequest
}

func (r *recorder) hook(_ context.Context, _ *fake.Container, req sdk.ExecRequest) (sdk.ExecResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return sdk.ExecResult{Stdout: []byte("ran")}, nil
}

// all returns the requests so far, but the script removals the one-shot
// path sends in the background.
func (r *recorder) all() []sdk.ExecRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sdk.ExecRequest
	for _, q := range r.reqs {
		if len(q.Argv) > 0 && q.Argv[0] != "rm" {
			out = append(out, q)
		}
	}
	return out
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.reqs = nil
	r.mu.Unlock()
}

func setup(t *testing.T) (*Executor, *fake.Backend, string, *atomic.Int32) {
	t.Helper()
	b := fake.NewBackend()
	st, err := b.Create(context.Background(), sdk.Spec{Name: "sandbox-a", Image: "img"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e := New(Options{ResidentRunner: true, StartTimeout: time.Second, MaxDuration: time.Minute, MaxOutputBytes: 1000})
	var vanished atomic.Int32
	e.Add("a", Target{Backend: b, ContainerID: st.ContainerID, WorkingDir: "/sandbox", Vanished: func() { vanished.Add(1) }})
	return e, b, st.ContainerID, &vanished
}

func TestExecClampsToTheOperatorsBounds(t *testing.T) {
	e, b, _, _ := setup(t)
	rec := &recorder{}
	b.ExecHook = rec.hook
	tests := []struct {
		in             sdk.ExecRequest
		timeout        time.Duration
		maxOutputBytes int64
	}{
		{sdk.ExecRequest{Argv: []string{"true"}}, time.Minute, 1000},
		{sdk.ExecRequest{Argv: []string{"true"}, Timeout: time.Hour, MaxOutputBytes: 1 << 30}, time.Minute, 1000},
		{sdk.ExecRequest{Argv: []string{"true"}, Timeout: time.Second, MaxOutputBytes: 10}, time.Second, 10},
	}
	for i, tt := range tests {
		if _, err := e.Exec(context.Background(), "a", tt.in); err != nil {
			t.Fatal(err)
		}
		got := rec.all()[i]
		if got.Timeout != tt.timeout || got.MaxOutputBytes != tt.maxOutputBytes {
			t.Errorf("case %d: timeout %v, max output %d; want %v, %d", i, got.Timeout, got.MaxOutputBytes, tt.timeout, tt.maxOutputBytes)
		}
	}
}

func TestRunPythonOneShot(t *testing.T) {
	e, b, _, _ := setup(t)
	rec := &recorder{}
	b.ExecHook = rec.hook
	script := tool.PythonScript{Path: "/tmp/exec_script_x.py", Source: []byte("print(1)")}
	if _, err := e.RunPython(context.Background(), "a", script, sdk.ExecRequest{}); err != nil {
		t.Fatal(err)
	}
	// Without stdin of its own the script arrives on stdin of one exec.
	first := rec.all()[0]
	if diff := cmp.Diff([]string{"sh", "-c", fallbackPython, script.Path}, first.Argv); diff != "" || string(first.Stdin) != "print(1)" {
		t.Errorf("one exec (-want +got):\n%s stdin %q", diff, first.Stdin)
	}
	// With stdin: the script is written first, then run with that stdin.
	rec.reset()
	if _, err := e.RunPython(context.Background(), "a", script, sdk.ExecRequest{Stdin: []byte("in")}); err != nil {
		t.Fatal(err)
	}
	reqs := rec.all()
	if len(reqs) < 2 || string(reqs[0].Stdin) != "print(1)" || string(reqs[1].Stdin) != "in" ||
		!cmp.Equal(reqs[1].Argv, []string{"sh", "-c", runPython, script.Path}) {
		t.Errorf("write then run: %+v", reqs)
	}
}

func TestUnknownAndRemovedSandboxes(t *testing.T) {
	e, _, _, vanished := setup(t)
	if _, err := e.Exec(context.Background(), "nope", sdk.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, sdk.ErrSandboxNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	e.Remove("a")
	if _, err := e.Exec(context.Background(), "a", sdk.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, sdk.ErrSandboxNotFound) {
		t.Errorf("removed sandbox: %v", err)
	}
	if vanished.Load() != 0 {
		t.Error("an unregistered sandbox is not a vanished container")
	}
}

func TestVanishedContainerIsReported(t *testing.T) {
	e, b, cid, vanished := setup(t)
	b.Remove(context.Background(), cid) // podman rm -f underneath
	if _, err := e.Exec(context.Background(), "a", sdk.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, sdk.ErrSandboxNotFound) {
		t.Fatalf("exec in a removed container: %v", err)
	}
	if vanished.Load() != 1 {
		t.Errorf("Vanished called %d times, want 1", vanished.Load())
	}
}

func TestNoSessionsMeansNoSessionAndOneShotSweeps(t *testing.T) {
	e, b, _, _ := setup(t)
	if _, err := e.Session(context.Background(), "a", sdk.ExecRequest{Argv: []string{"sh"}}); !errors.Is(err, sdk.ErrUnsupported) {
		t.Errorf("Session on a backend without sessions: %v", err)
	}
	if e.QueueSweep("a") {
		t.Error("a sweep was queued without a runner")
	}
	rec := &recorder{}
	b.ExecHook = rec.hook
	if err := e.Sweep(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.all(); len(reqs) != 1 || !cmp.Equal(reqs[0].Argv, []string{"sh", "-c", sweepScript}) {
		t.Errorf("sweep ran %+v, want the sweep script once", reqs)
	}
}
