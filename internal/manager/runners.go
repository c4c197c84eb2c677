package manager

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/internal/runner"
	"github.com/enclave-sandbox/enclave/sdk"
)

// runnerSlot is a sandbox's resident runner (see package runner).
type runnerSlot struct {
	mu       sync.Mutex
	r        *runner.Runner
	starting chan struct{} // closed when a start attempt ends
	noPython bool          // or no sessions: one-shot exec for good
	failedAt time.Time     // last failed start: retried after a pause
}

// fallbackPython runs a Python request as a one-shot process: the script
// arrives on stdin and the shell replaces itself with the interpreter.
const fallbackPython = `cat >"$0" || exit 1
command -v python >/dev/null 2>&1 && exec python "$0"
exec python3 "$0"`

func (m *Manager) runnerSlot(sb *sandbox) *runnerSlot {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sb.runner == nil {
		sb.runner = &runnerSlot{}
	}
	return sb.runner
}

// startRunner starts a sandbox's runner in the background (at creation, so
// the first call finds it warm).
func (m *Manager) startRunner(sb *sandbox) {
	if !m.opts.ResidentRunner {
		return
	}
	slot := m.runnerSlot(sb)
	slot.mu.Lock()
	if slot.starting != nil || slot.noPython || (slot.r != nil && !slot.r.Dead()) || time.Since(slot.failedAt) < 30*time.Second {
		slot.mu.Unlock()
		return
	}
	done := make(chan struct{})
	slot.starting = done
	slot.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.opts.StartTimeout)
		defer cancel()
		containerID := m.containerOf(sb)
		r, err := runner.Start(ctx, context.Background(), func(ctx context.Context, req sdk.ExecRequest) (sdk.Session, error) {
			req.WorkingDir = sb.cfg.WorkingDir
			return sb.backend.Session(ctx, containerID, req)
		})
		slot.mu.Lock()
		defer slot.mu.Unlock()
		slot.starting = nil
		close(done)
		switch {
		case errors.Is(err, runner.ErrNoPython), errors.Is(err, sdk.ErrUnsupported):
			slot.noPython = true
			slog.Info("no resident runner for this sandbox (no Python or no sessions): tool calls use one-shot exec", "sandbox_id", sb.id, "why", err)
		case err != nil:
			slot.failedAt = time.Now()
			slog.Warn("resident runner did not start; using one-shot exec", "sandbox_id", sb.id, "err", err)
		default:
			if slot.r != nil {
				slot.r.Close()
			}
			slot.r = r
		}
	}()
}

// runnerFor returns a live runner, waiting (bounded) for one being started
// and restarting one that died; nil means use one-shot exec.
func (m *Manager) runnerFor(ctx context.Context, sb *sandbox) *runner.Runner {
	if !m.opts.ResidentRunner {
		return nil
	}
	slot := m.runnerSlot(sb)
	for attempt := 0; attempt < 2; attempt++ {
		slot.mu.Lock()
		r, starting, noPython := slot.r, slot.starting, slot.noPython
		slot.mu.Unlock()
		switch {
		case noPython:
			return nil
		case r != nil && !r.Dead():
			return r
		case starting == nil:
			m.startRunner(sb)
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
		case <-time.After(m.opts.StartTimeout):
			return nil
		}
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.r != nil && !slot.r.Dead() {
		return slot.r
	}
	return nil
}

// closeRunner ends a sandbox's runner (stop, delete, reset, death).
func (m *Manager) closeRunner(sb *sandbox) {
	m.mu.Lock()
	slot := sb.runner
	m.mu.Unlock()
	if slot == nil {
		return
	}
	slot.mu.Lock()
	r := slot.r
	slot.r = nil
	slot.mu.Unlock()
	if r != nil {
		r.Close()
	}
}

// execInSandbox runs a tool's process: in the resident runner when the
// sandbox has one, else as a one-shot backend exec.
func (m *Manager) execInSandbox(ctx context.Context, sb *sandbox, req sdk.ExecRequest) (sdk.ExecResult, error) {
	if r := m.runnerFor(ctx, sb); r != nil {
		res, err := r.Exec(ctx, req)
		if err == nil || !errors.Is(err, runner.ErrNotSent) {
			if errors.Is(err, runner.ErrDied) {
				slog.Warn("resident runner died during a call; restarting it", "sandbox_id", sb.id)
				m.startRunner(sb)
			}
			return res, err
		}
		m.startRunner(sb)
	}
	if req.Python != nil {
		path := req.Python.Path
		req.Argv, req.Stdin = []string{"sh", "-c", fallbackPython, path}, req.Python.Source
		req.Python = nil
		defer func() {
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				sb.backend.Exec(ctx, m.containerOf(sb), sdk.ExecRequest{Argv: []string{"rm", "-f", "--", path}, Timeout: 30 * time.Second})
			}()
		}()
	}
	return sb.backend.Exec(ctx, m.containerOf(sb), req)
}
