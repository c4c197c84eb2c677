package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// runnerSlot is a sandbox's resident runner (see package runner).
type runnerSlot struct {
	mu       sync.Mutex
	r        *runner.Runner
	starting chan struct{} // closed when a start attempt ends
	noPython bool          // or no sessions: one-shot exec for good
	failedAt time.Time     // last failed start: retried after a pause
	closed   bool          // the sandbox was removed: never start again
	boot     *runner.Boot  // the runner the sandbox boots, until a start takes it
}

// retryPause is how long a sandbox whose runner failed to start uses
// one-shot exec before a new start is tried.
const retryPause = 30 * time.Second

// live returns the runner if it is alive.
func (s *runnerSlot) live() *runner.Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r != nil && !s.r.Dead() {
		return s.r
	}
	return nil
}

// close ends the runner for good (the sandbox was removed).
func (s *runnerSlot) close() {
	s.mu.Lock()
	r := s.r
	b := s.boot
	s.r, s.closed, s.boot = nil, true, nil
	s.mu.Unlock()
	if r != nil {
		r.Close()
	}
	if b != nil {
		b.Close()
	}
}

// retire ends r if it is still the slot's runner; the next call starts a
// fresh one.
func (s *runnerSlot) retire(r *runner.Runner) {
	s.mu.Lock()
	if s.r == r {
		s.r = nil
	}
	s.mu.Unlock()
	r.Close()
}

// startRunner starts a sandbox's runner in the background unless one runs,
// is starting, cannot run here, or failed a moment ago.
func (e *Executor) startRunner(en *entry) {
	if !e.opts.ResidentRunner {
		return
	}
	slot := &en.runner
	slot.mu.Lock()
	if slot.closed || slot.starting != nil || slot.noPython || (slot.r != nil && !slot.r.Dead()) || time.Since(slot.failedAt) < retryPause {
		slot.mu.Unlock()
		return
	}
	done := make(chan struct{})
	slot.starting = done
	boot := slot.boot
	slot.boot = nil
	slot.mu.Unlock()
	sessions, ok := backend.Sessions(en.target.Backend)
	go func() {
		r := e.acceptBoot(en, boot)
		var err error
		switch {
		case r != nil: // booted
		case ok:
			ctx, cancel := context.WithTimeout(context.Background(), e.opts.StartTimeout)
			defer cancel()
			r, err = runner.Start(ctx, context.Background(), func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error) {
				req.WorkingDir = en.target.WorkingDir
				return sessions.Session(ctx, en.target.ContainerID, req)
			}, runner.Options{Standbys: e.opts.RunnerStandbys, Channel: en.target.Channel})
		default:
			err = sdk.ErrUnsupported
		}
		slot.mu.Lock()
		defer slot.mu.Unlock()
		slot.starting = nil
		close(done)
		switch {
		case err == nil && slot.closed:
			r.Close() // removed while it started
		case errors.Is(err, runner.ErrNoPython), errors.Is(err, sdk.ErrUnsupported):
			slot.noPython = true
			slog.Info("no resident runner for this sandbox (no Python or no sessions): tool calls use one-shot exec", "sandbox_id", en.id, "why", err)
		case err != nil:
			slot.failedAt = time.Now()
			slog.Warn("resident runner did not start; using one-shot exec", "sandbox_id", en.id, "err", err)
		default:
			if slot.r != nil {
				slot.r.Close()
			}
			slot.r = r
			e.NoteBoot(en.target.Image, true)
		}
	}()
}

// endAbandoned makes sure a wedged runner on its channel is gone. Closing
// the channel ends a runner that still reads, and its session's Close kills
// one that does not (stopped, starved), unless that session ended before
// (with a killed backend plugin: the runner outlives it): so it is killed
// by its pid too, through a one-shot exec, if that pid is still a runner.
func (e *Executor) endAbandoned(en *entry, r *runner.Runner) {
	if !r.OnChannel() || r.Pid <= 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.StartTimeout)
		defer cancel()
		kill := `grep -qa "enclave resident runner" /proc/$1/cmdline && kill -9 "$1"`
		req := sdk.ExecRequest{Argv: []string{"sh", "-c", kill, "sh", strconv.Itoa(r.Pid)}, Timeout: 10 * time.Second}
		if _, err := en.target.Backend.Exec(ctx, en.target.ContainerID, req); err != nil {
			slog.Warn("end a wedged runner", "sandbox_id", en.id, "pid", r.Pid, "err", err)
		}
	}()
}

// runnerFor returns a live runner, waiting (bounded) for one being started
// and restarting one that died; nil means use one-shot exec.
func (e *Executor) runnerFor(ctx context.Context, en *entry) *runner.Runner {
	if !e.opts.ResidentRunner {
		return nil
	}
	slot := &en.runner
	for attempt := 0; attempt < 2; attempt++ {
		slot.mu.Lock()
		r, starting, noPython := slot.r, slot.starting, slot.noPython || slot.closed
		slot.mu.Unlock()
		switch {
		case noPython:
			return nil
		case r != nil && !r.Dead():
			return r
		case starting == nil:
			e.startRunner(en)
			slot.mu.Lock()
			starting = slot.starting
			slot.mu.Unlock()
			if starting == nil {
				return nil // not starting (backing off)
			}
		}
		select {
		case <-starting:
		case <-ctx.Done():
			return nil
		case <-time.After(e.opts.StartTimeout):
			return nil
		}
	}
	return slot.live()
}

// execIn runs a process in a sandbox: in its resident runner when it has
// one, else as a one-shot backend exec. A runner that died with its
// container reports the container as gone (sdk.ErrSandboxNotFound), so the
// caller learns the sandbox vanished rather than that a runner died.
func (e *Executor) execIn(ctx context.Context, en *entry, req sdk.ExecRequest, script *tool.PythonScript) (sdk.ExecResult, error) {
	// A call the runner never read (it died first, e.g. with the backend
	// plugin that carried its session) goes to a fresh runner, once.
	sink := e.sinkFor(ctx)
	var prev *runner.Runner
	for attempt := 0; attempt < 2; attempt++ {
		r := e.runnerFor(ctx, en)
		if r == nil || r == prev {
			break
		}
		prev = r
		if err := e.ensureSwept(ctx, en, r); err != nil {
			return sdk.ExecResult{}, err
		}
		res, err := r.ExecStream(ctx, req, script, sink)
		if err == nil {
			if r.Cause() != nil {
				e.endAbandoned(en, r)
				e.startRunner(en) // it was wedged and has been killed
			}
			return res, nil
		}
		if errors.Is(err, runner.ErrDied) && e.containerGone(ctx, en) {
			return res, fmt.Errorf("%w: %w", sdk.ErrSandboxNotFound, err)
		}
		e.startRunner(en)
		if !errors.Is(err, runner.ErrNotSent) {
			slog.Warn("resident runner died during a call; restarting it", "sandbox_id", en.id, "err", err)
			return res, err
		}
	}
	if err := e.ensureSwept(ctx, en, nil); err != nil {
		return sdk.ExecResult{}, err
	}
	var res sdk.ExecResult
	var err error
	if script != nil {
		res, err = e.pythonOneShot(ctx, en, *script, req)
	} else {
		res, err = en.target.Backend.Exec(ctx, en.target.ContainerID, req)
	}
	if err == nil && sink != nil {
		// One-shot exec returns output at the end: the stream gets it then.
		if len(res.Stdout) > 0 {
			sink("out", res.Stdout)
		}
		if len(res.Stderr) > 0 {
			sink("err", res.Stderr)
		}
	}
	return res, err
}

// containerGone asks the backend (bounded) whether a sandbox's container
// is missing or no longer running. A runner dies the instant a podman rm -f
// kills the container's processes, a moment before the runtime's state says
// so (seen in the chaos suite), so a container still "running", or one the
// runtime cannot answer for (an inspect failing while the removal runs), is
// asked again for up to goneSettle before the death counts as the runner's
// own.
func (e *Executor) containerGone(ctx context.Context, en *entry) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	deadline := time.Now().Add(goneSettle)
	for pause := 20 * time.Millisecond; ; pause *= 2 {
		st, err := en.target.Backend.Inspect(ctx, en.target.ContainerID)
		switch {
		case errors.Is(err, sdk.ErrSandboxNotFound):
			return true
		case err == nil && st.Status != "running":
			return true
		case time.Now().Add(pause).After(deadline):
			return false
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return false
		}
	}
}

// goneSettle bounds how long a runner's death waits for the runtime to
// report its container's removal (see containerGone).
const goneSettle = 3 * time.Second
