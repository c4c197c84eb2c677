package manager

// Background processes (docs/api.md §12): started in a sandbox by its
// resident runner, run by a monitor of their own, with their state in the
// sandbox (internal/runner/procs.go), so they outlive requests, runners and
// server restarts, and die with the sandbox.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/enclave-sandbox/enclave/internal/executor"
	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
)

// ProcessRequest starts a background process.
type ProcessRequest struct {
	Argv  []string
	Env   map[string]string
	Cwd   string
	Stdin []byte
	// Timeout ends the process (TERM, then KILL 5 s later); 0: none.
	Timeout time.Duration
}

// Process is a background process's state.
type Process struct {
	ID        string
	PID       *int
	Command   []string
	Cwd       string
	Running   bool
	ExitCode  *int
	Signal    string // the signal that ended it, e.g. "SIGTERM"
	TimedOut  bool
	Lost      bool // its monitor was killed from inside the sandbox: its end is unknown
	StartedAt time.Time
	EndedAt   *time.Time
	RingBytes int64
	Timeout   float64
}

// OutputChunk is a piece of one stream ("stdout", "stderr").
type OutputChunk struct {
	Stream string
	Data   []byte
}

// ProcessOutput is a read of a process's output log.
type ProcessOutput struct {
	Chunks     []OutputChunk
	NextOffset int64
	// Dropped: bytes between the offset asked for and the oldest kept.
	Dropped int64
	Running bool
}

// Signals are the signals a client may send, by name (Linux numbers, as in
// the sandbox).
var Signals = map[string]int{"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGKILL": 9, "SIGUSR1": 10, "SIGUSR2": 12,
	"SIGTERM": 15, "SIGCONT": 18, "SIGSTOP": 19, "SIGWINCH": 28}

// SignalNames lists Signals, sorted.
func SignalNames() []string {
	out := make([]string, 0, len(Signals))
	for k := range Signals {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func signalName(n int) string {
	for k, v := range Signals {
		if v == n {
			return k
		}
	}
	return fmt.Sprintf("signal %d", n)
}

// ownSandbox is an active sandbox that is not a pool member: pool members
// are lent per call and swept between callers, so nothing of a caller may
// stay in them.
func (m *Manager) ownSandbox(id string) (*sandbox, func(), error) {
	sb, release, err := m.activeSandbox(id, KindNotActive)
	if err != nil {
		return nil, nil, err
	}
	if sb.pool {
		release()
		return nil, nil, errorf(KindConflict, "Sandbox %s is a pool member: background processes and terminals need a sandbox of its own", id)
	}
	return sb, release, nil
}

// processErr maps executor and runner errors to the API's.
func processErr(id, pid string, err error) error {
	var me *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me):
		return err
	case errors.Is(err, runner.ErrNoProcess):
		return errorf(KindProcessNotFound, "Process %s not found in sandbox %s", pid, id)
	case errors.Is(err, runner.ErrFinished):
		return errorf(KindConflict, "Process %s has finished", pid)
	case errors.Is(err, runner.ErrBadOp):
		return errorf(KindInvalidParams, "%s", err.Error())
	case errors.Is(err, executor.ErrNoRunner):
		return &Error{Kind: KindConflict, Msg: fmt.Sprintf("Sandbox %s cannot run background processes or terminals: %s", id, err), Err: err}
	case errors.Is(err, sdk.ErrSandboxNotFound):
		return &Error{Kind: KindNotFound, Msg: fmt.Sprintf("Sandbox %s not found", id), Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindUnavailable, Msg: "Request cancelled", Err: err}
	default:
		return &Error{Kind: KindUnavailable, Msg: fmt.Sprintf("Sandbox %s: its runner is unavailable (%s); try again", id, err), Err: err}
	}
}

func fromProcInfo(p runner.ProcInfo) Process {
	out := Process{ID: p.ID, PID: p.PID, Command: p.Argv, Cwd: p.Cwd, Running: p.Running, ExitCode: p.Code, TimedOut: p.TimedOut,
		Lost: p.Lost, StartedAt: unixTime(p.Started), RingBytes: p.Ring, Timeout: p.Timeout}
	if p.Signal != nil {
		out.Signal = signalName(*p.Signal)
	}
	if p.Ended != nil {
		t := unixTime(*p.Ended)
		out.EndedAt = &t
	}
	return out
}

func unixTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e6)*1e3).UTC()
}

// StartProcess starts a background process in sandbox id and returns at
// once.
func (m *Manager) StartProcess(ctx context.Context, id string, req ProcessRequest) (Process, error) {
	sb, release, err := m.ownSandbox(id)
	if err != nil {
		return Process{}, err
	}
	defer release()
	if req.Cwd == "" {
		req.Cwd = sb.cfg.WorkingDir
	}
	pid := m.newProcessID()
	info, err := m.exec.Spawn(ctx, id, runner.ProcSpec{ID: pid, Argv: req.Argv, Env: req.Env, Cwd: req.Cwd, Stdin: req.Stdin,
		Timeout: req.Timeout, RingBytes: m.opts.ProcessOutputBytes})
	if err != nil {
		return Process{}, processErr(id, pid, err)
	}
	m.touch(id)
	return fromProcInfo(info), nil
}

// Processes lists sandbox id's background processes, oldest first.
func (m *Manager) Processes(ctx context.Context, id string) ([]Process, error) {
	_, release, err := m.ownSandbox(id)
	if err != nil {
		return nil, err
	}
	defer release()
	list, err := m.exec.Procs(ctx, id)
	if err != nil {
		return nil, processErr(id, "", err)
	}
	out := make([]Process, 0, len(list))
	for _, p := range list {
		out = append(out, fromProcInfo(p))
	}
	return out, nil
}

// Process inspects one.
func (m *Manager) Process(ctx context.Context, id, pid string) (Process, error) {
	_, release, err := m.ownSandbox(id)
	if err != nil {
		return Process{}, err
	}
	defer release()
	info, err := m.exec.Proc(ctx, id, pid)
	if err != nil {
		return Process{}, processErr(id, pid, err)
	}
	return fromProcInfo(info), nil
}

// ProcessOutput reads at most max bytes of one's output from offset.
func (m *Manager) ProcessOutput(ctx context.Context, id, pid string, offset, max int64) (ProcessOutput, error) {
	_, release, err := m.ownSandbox(id)
	if err != nil {
		return ProcessOutput{}, err
	}
	defer release()
	o, err := m.exec.ReadOutput(ctx, id, pid, offset, max)
	if err != nil {
		return ProcessOutput{}, processErr(id, pid, err)
	}
	out := ProcessOutput{NextOffset: o.Next, Dropped: o.Dropped, Running: o.Running}
	for _, c := range o.Chunks {
		stream := "stdout"
		if c.Stream == "err" {
			stream = "stderr"
		}
		out.Chunks = append(out.Chunks, OutputChunk{Stream: stream, Data: c.Data})
	}
	return out, nil
}

// ProcessStdin writes to one's stdin (eof closes it after).
func (m *Manager) ProcessStdin(ctx context.Context, id, pid string, data []byte, eof bool) error {
	_, release, err := m.ownSandbox(id)
	if err != nil {
		return err
	}
	defer release()
	return processErr(id, pid, m.exec.WriteStdin(ctx, id, pid, data, eof))
}

// SignalProcess sends one of Signals to one's process group.
func (m *Manager) SignalProcess(ctx context.Context, id, pid, signal string) error {
	n, ok := Signals[signal]
	if !ok {
		return errorf(KindInvalidParams, "Signal %q is not allowed (allowed: %v)", signal, SignalNames())
	}
	_, release, err := m.ownSandbox(id)
	if err != nil {
		return err
	}
	defer release()
	return processErr(id, pid, m.exec.Signal(ctx, id, pid, n))
}

// MaxProcessWait bounds WaitProcess.
const MaxProcessWait = 10 * time.Minute

// WaitProcess waits (at most timeout, bounded by MaxProcessWait and ctx)
// until one has ended and returns its state, running or not.
func (m *Manager) WaitProcess(ctx context.Context, id, pid string, timeout time.Duration) (Process, error) {
	if timeout > MaxProcessWait {
		timeout = MaxProcessWait
	}
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for {
		p, err := m.Process(ctx, id, pid)
		if err != nil || !p.Running {
			return p, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return p, nil
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return p, processErr(id, pid, ctx.Err())
		case <-t.C:
		}
		pause = min(pause*2, 100*time.Millisecond)
	}
}

// newProcessID draws a process id (runner.py's alphabet, lowercase and
// digits).
func (m *Manager) newProcessID() string {
	id := make([]byte, 0, 12)
	var b [1]byte
	for len(id) < cap(id) {
		rand.Read(b[:])
		if int(b[0]) < 256-256%len(idAlphabet) { // uniform
			id = append(id, idAlphabet[int(b[0])%len(idAlphabet)])
		}
	}
	return "p" + string(id)
}

// touch marks activity on a sandbox (its idle clock restarts).
func (m *Manager) touch(id string) {
	m.mu.Lock()
	if sb, ok := m.sandboxes[id]; ok {
		sb.lastActivity = time.Now().UTC()
	}
	m.mu.Unlock()
}
