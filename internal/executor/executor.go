// Package executor is the one place that runs processes in sandboxes. Tool
// plugins reach it through the SandboxHost service (it implements
// tool.Sandboxes, by sandbox id); the manager registers each live sandbox's
// container with it and asks it to clean pool members between callers.
//
// A process runs in the sandbox's resident runner when it has one (a fork, no
// container exec: package runner), else as a one-shot backend exec. Every
// request is clamped to the operator's limits and bounded in time, and an
// operation that finds the container gone reports it (Target.Vanished).
// docs/architecture.md walks a tool call through it.
package executor

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// Options are the operator's bounds on every process.
type Options struct {
	// ResidentRunner runs processes in a resident per-sandbox runner (fork
	// per call) instead of a container exec per call.
	ResidentRunner bool
	// RunnerStandbys is how many pre-forked processes each runner keeps
	// ready for calls (runner.Options).
	RunnerStandbys int
	// StartTimeout bounds a runner's start.
	StartTimeout time.Duration
	// MaxDuration is the longest any process may run (what "no deadline"
	// means); MaxOutputBytes caps each output stream.
	MaxDuration    time.Duration
	MaxOutputBytes int64
	// MaxProcessDuration bounds a background process (0: it may run as
	// long as its sandbox).
	MaxProcessDuration time.Duration
}

// Target is where a sandbox's processes run.
type Target struct {
	Backend     backend.Backend
	ContainerID string
	WorkingDir  string
	// Channel is the runner's channel (nil: its protocol rides the
	// backend's session).
	Channel *runner.Channel
	// Boot is the runner the sandbox starts itself (PrepareBoot), taken
	// by the first start instead of one over a session.
	Boot *runner.Boot
	// Image names what the sandbox runs, for what boots tell of it
	// (boot.go).
	Image string
	// Vanished is called (once per operation) when the container turned out
	// to be gone.
	Vanished func()
}

// Executor runs processes in registered sandboxes.
type Executor struct {
	opts Options

	mu        sync.Mutex
	sandboxes map[string]*entry
	booted    map[string]bool        // images whose sandboxes can boot a runner (boot.go)
	streams   map[string]*chunkQueue // by call id (streams.go)
}

// entry is one registered sandbox.
type entry struct {
	id     string
	target Target
	runner runnerSlot
	// sweep is the cleaning queued on the runner after the last pool
	// caller; guarded by Executor.mu.
	sweep sweepTicket
}

var _ tool.Sandboxes = (*Executor)(nil)

// New returns an executor with no sandboxes.
func New(opts Options) *Executor {
	return &Executor{opts: opts, sandboxes: map[string]*entry{}}
}

// Add registers a sandbox's container and warms its runner in the
// background, so the first call finds it started. A sandbox must be added
// before it is handed to callers.
func (e *Executor) Add(id string, t Target) {
	en := &entry{id: id, target: t}
	en.runner.boot, en.target.Boot = t.Boot, nil
	e.mu.Lock()
	old := e.sandboxes[id]
	e.sandboxes[id] = en
	e.mu.Unlock()
	if old != nil {
		old.runner.close()
	}
	e.startRunner(en)
}

// Remove forgets a sandbox (stopped, deleted, dead or being replaced) and
// ends its runner; its operations answer sdk.ErrSandboxNotFound from now on.
func (e *Executor) Remove(id string) {
	e.mu.Lock()
	en := e.sandboxes[id]
	delete(e.sandboxes, id)
	e.mu.Unlock()
	if en != nil {
		en.runner.close()
	}
}

func (e *Executor) lookup(id string) (*entry, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.sandboxes[id]
	if !ok {
		return nil, sdk.ErrSandboxNotFound
	}
	return en, nil
}

// execMargin is the time past a call's deadline and grace the executor
// waits for an answer before it gives up on the runtime.
const execMargin = 15 * time.Second

// defaultGrace is the kill grace of a request that names none.
const defaultGrace = 5 * time.Second

// bound clamps req to the operator's limits and returns ctx bounded by the
// call's deadline, its kill grace and a margin: every wait has a bound, even
// when the runtime itself stalls (a container whose pids are exhausted
// cannot start an exec).
func (e *Executor) bound(ctx context.Context, req *sdk.ExecRequest) (context.Context, context.CancelFunc) {
	if req.Timeout <= 0 || req.Timeout > e.opts.MaxDuration {
		req.Timeout = e.opts.MaxDuration
	}
	if req.MaxOutputBytes <= 0 || req.MaxOutputBytes > e.opts.MaxOutputBytes {
		req.MaxOutputBytes = e.opts.MaxOutputBytes
	}
	grace := req.KillGrace
	if grace <= 0 {
		grace = defaultGrace
	}
	return context.WithTimeout(ctx, req.Timeout+grace+execMargin)
}

// Exec implements tool.Sandboxes: one process, in the runner or one-shot.
func (e *Executor) Exec(ctx context.Context, id string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	return e.run(ctx, id, req, nil)
}

// RunPython implements tool.Sandboxes: a script run as `python <path>`.
func (e *Executor) RunPython(ctx context.Context, id string, script tool.PythonScript, req sdk.ExecRequest) (sdk.ExecResult, error) {
	return e.run(ctx, id, req, &script)
}

func (e *Executor) run(ctx context.Context, id string, req sdk.ExecRequest, script *tool.PythonScript) (sdk.ExecResult, error) {
	en, err := e.lookup(id)
	if err != nil {
		return sdk.ExecResult{}, err
	}
	ctx, cancel := e.bound(ctx, &req)
	defer cancel()
	res, err := e.execIn(ctx, en, req, script)
	if errors.Is(err, sdk.ErrSandboxNotFound) && en.target.Vanished != nil {
		en.target.Vanished()
	}
	return res, err
}

// Session implements tool.Sandboxes.
func (e *Executor) Session(ctx context.Context, id string, req sdk.ExecRequest) (sdk.Session, error) {
	en, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	s, ok := backend.Sessions(en.target.Backend)
	if !ok {
		return nil, sdk.ErrUnsupported
	}
	return s.Session(ctx, en.target.ContainerID, req)
}

// PutArchive implements tool.Sandboxes.
func (e *Executor) PutArchive(ctx context.Context, id, dir string, r io.Reader) error {
	en, err := e.lookup(id)
	if err != nil {
		return err
	}
	return en.target.Backend.PutArchive(ctx, en.target.ContainerID, dir, r)
}

// GetArchive implements tool.Sandboxes.
func (e *Executor) GetArchive(ctx context.Context, id, path string, w io.Writer) error {
	en, err := e.lookup(id)
	if err != nil {
		return err
	}
	return en.target.Backend.GetArchive(ctx, en.target.ContainerID, path, w)
}
